"""The membership ledger: re-entering members are not sent again; removals send every identifier ever added."""

import hashlib

import pytest

from audiences import services
from audiences.sending.pump import send_due_now
from audiences.metrics import audience_member_count, step_metrics
from audiences.models import Audience, Step
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def list_requests(sandbox):
    return [
        r for r in sandbox.state.requests_log()
        if "/customer_lists" in r["path"] and r["method"] in ("POST", "PATCH") and r["status"] == 200
    ]


def test_a_member_who_enters_again_is_not_sent_again(sandbox, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(5))
    send_due_now()
    sent_before = len(list_requests(sandbox))

    result = services.users_enter(canvas=add_canvas, users=make_users(5))
    send_due_now()

    assert result.already_in_audience == 5
    assert len(list_requests(sandbox)) == sent_before
    numbers = step_metrics(add_canvas.steps.get())
    assert (numbers.entered, numbers.synced) == (10, 10)


def test_a_remove_step_sends_every_identifier_ever_added(sandbox, acme, ad_account):
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Members")
    adder = services.canvas_create(workspace=acme, name="Add")
    services.step_create_audience_sync(canvas=adder, ad_account=ad_account, audience=audience)
    services.canvas_launch(canvas=adder)
    remover = services.canvas_create(workspace=acme, name="Remove")
    services.step_create_audience_sync(canvas=remover, ad_account=ad_account, audience=audience, action=Step.Action.REMOVE)
    services.canvas_launch(canvas=remover)

    services.users_enter(canvas=adder, users=[{"external_id": "jane", "email": "jane@old.example"}])
    send_due_now()
    services.users_enter(canvas=adder, users=[{"external_id": "jane", "email": "jane@new.example"}])
    send_due_now()
    assert audience_member_count(audience.pk) == 1

    services.users_enter(canvas=remover, users=[{"external_id": "jane", "email": "jane@new.example"}])
    send_due_now()

    removal = list_requests(sandbox)[-1]
    assert removal["method"] == "PATCH" and removal["records"] == 2
    list_id = Audience.objects.get(pk=audience.pk).lists.get().pinterest_customer_list_id
    assert sandbox.state.customer_list_records(list_id) == set()
    assert audience_member_count(audience.pk) == 0


def test_the_ledger_says_who_is_in_the_audience(sandbox, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(7))
    assert audience_member_count(add_canvas.steps.get().audience_id) == 0  # nothing accepted yet
    send_due_now()
    assert audience_member_count(add_canvas.steps.get().audience_id) == 7
