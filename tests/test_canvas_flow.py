"""A canvas moves users through its steps: add to audience, wait, remove from audience."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audiences import services
from audiences.sending.pump import send_due_now
from audiences.metrics import canvas_metrics
from audiences.models import AudienceMember, Step
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


@pytest.fixture
def add_wait_remove(acme, ad_account):
    canvas = services.canvas_create(workspace=acme, name="Win-back")
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Lapsed buyers")
    services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience, action=Step.Action.ADD)
    services.step_create_delay(canvas=canvas, seconds=30 * 24 * 3600)
    services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience, action=Step.Action.REMOVE)
    services.canvas_launch(canvas=canvas)
    return canvas


def numbers(canvas):
    return [m.as_dict() for _, m in canvas_metrics(canvas)]


def test_it_adds_waits_30_days_then_removes(sandbox, add_wait_remove):
    canvas = add_wait_remove
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        services.users_enter(canvas=canvas, users=make_users(150))
        send_due_now()
        add, delay, remove = numbers(canvas)
        assert (add["entered"], add["synced"], add["proceeded"], add["exited"]) == (150, 150, 150, 0)
        assert (delay["entered"], delay["proceeded"]) == (150, 0)
        assert remove["entered"] == 0
        audience = canvas.steps.first().audience
        assert AudienceMember.objects.filter(audience=audience, is_member=True).count() == 150

        traveller.shift(timedelta(days=29))
        assert services.delays_advance() == 0

        traveller.shift(timedelta(days=1, seconds=1))
        assert services.delays_advance() == 150
        send_due_now()

    add, delay, remove = numbers(canvas)
    assert (delay["entered"], delay["proceeded"], delay["exited"]) == (150, 150, 0)
    assert (remove["entered"], remove["synced"], remove["exited"], remove["proceeded"]) == (150, 150, 150, 0)
    list_id = audience.lists.get().pinterest_customer_list_id
    assert sandbox.state.customer_list_records(list_id) == set()
    assert AudienceMember.objects.filter(audience=audience, is_member=True).count() == 0


def test_a_sync_step_that_is_last_exits_users_at_once(sandbox, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(10))
    [step_numbers] = numbers(add_canvas)
    assert (step_numbers["entered"], step_numbers["exited"], step_numbers["proceeded"]) == (10, 10, 0)


def test_users_cannot_enter_a_canvas_that_is_not_launched(acme, ad_account):
    canvas = services.canvas_create(workspace=acme, name="Draft")
    with pytest.raises(services.NotAllowed):
        services.users_enter(canvas=canvas, users=make_users(1))


def test_a_bad_row_rejects_the_whole_entry_and_names_the_row(sandbox, add_canvas):
    users = make_users(3) + [{"external_id": "bad", "email": "not-an-email"}]
    with pytest.raises(services.EntryRejected) as rejected:
        services.users_enter(canvas=add_canvas, users=users)
    assert rejected.value.row == 3
    assert numbers(add_canvas)[0]["entered"] == 0
