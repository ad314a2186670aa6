"""Staff retry a step's errored users from the command line."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from audiences import services
from audiences.models import SyncRecord
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def test_it_retries_the_errored_users_of_a_step(add_canvas):
    step = add_canvas.steps.get()
    with time_machine.travel(timezone.now() - timedelta(hours=14), tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(4))
    services.records_error_expired()
    out = StringIO()
    call_command("retry_errored", "--step", step.pk, stdout=out)
    assert "Retrying 4 errored users" in out.getvalue()
    assert SyncRecord.objects.filter(step=step, state=SyncRecord.State.PENDING).count() == 4


def test_it_names_a_missing_or_delay_step(acme):
    with pytest.raises(CommandError, match="No step 999"):
        call_command("retry_errored", "--step", 999)
    canvas = services.canvas_create(workspace=acme, name="Wait")
    delay = services.step_create_delay(canvas=canvas, seconds=5)
    with pytest.raises(CommandError, match="delay step"):
        call_command("retry_errored", "--step", delay.pk)
