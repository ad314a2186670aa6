"""Audiences follow Pinterest's rules: a draft, then a customer list, then the audience once the list is READY."""

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django.db import connection as db_connection

from audiences import services
from audiences.sending.pump import send_due_now
from audiences.metrics import step_metrics
from audiences.models import Audience, SendLog
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def test_a_new_audience_is_a_draft_whose_name_is_checked_at_once(acme, ad_account):
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="VIP buyers")
    assert audience.status == Audience.Status.DRAFT
    with pytest.raises(services.ServiceError, match="already exists"):
        services.audience_create_draft(workspace=acme, ad_account=ad_account, name="vip BUYERS")
    with pytest.raises(services.ServiceError, match="at most"):
        services.audience_create_draft(workspace=acme, ad_account=ad_account, name="x" * 101)
    with pytest.raises(services.ServiceError, match="needs a name"):
        services.audience_create_draft(workspace=acme, ad_account=ad_account, name="  ")


def test_the_first_batch_creates_the_list_and_the_sweeper_creates_the_audience_when_ready(sandbox, add_canvas):
    audience = add_canvas.steps.get().audience
    services.users_enter(canvas=add_canvas, users=make_users(150))
    send_due_now()

    audience.refresh_from_db()
    assert audience.status == Audience.Status.WAITING_FOR_LIST
    assert SendLog.objects.filter(operation="CREATE_LIST", outcome=SendLog.Outcome.OK).count() == 1

    services.audiences_sweep()

    audience.refresh_from_db()
    assert audience.status == Audience.Status.READY
    assert audience.pinterest_audience_id.isdigit()
    remote = {a["id"]: a for a in sandbox.state.audiences()}[audience.pinterest_audience_id]
    assert remote["rule"]["customer_list_id"] == audience.lists.get().pinterest_customer_list_id


def test_a_small_list_stays_waiting_until_it_reaches_100_users(sandbox, add_canvas):
    audience = add_canvas.steps.get().audience
    services.users_enter(canvas=add_canvas, users=make_users(40))
    send_due_now()
    services.audiences_sweep()
    audience.refresh_from_db()
    assert audience.status == Audience.Status.WAITING_FOR_LIST
    assert audience.lists.get().pinterest_status == "TOO_SMALL"

    services.users_enter(canvas=add_canvas, users=make_users(80, start=40))
    send_due_now()
    services.audiences_sweep()
    audience.refresh_from_db()
    assert audience.status == Audience.Status.READY


def test_an_audience_deleted_on_pinterest_is_recreated_from_its_list(sandbox, add_canvas):
    audience = add_canvas.steps.get().audience
    services.users_enter(canvas=add_canvas, users=make_users(120))
    send_due_now()
    services.audiences_sweep()
    audience.refresh_from_db()
    first_id = audience.pinterest_audience_id

    sandbox.state.delete_audience(first_id)
    services.audiences_sweep(force=True)
    services.audiences_sweep(force=True)

    audience.refresh_from_db()
    assert audience.status == Audience.Status.READY
    assert audience.pinterest_audience_id not in ("", first_id)


def test_an_existing_audience_is_used_through_its_customer_list(sandbox, acme, ad_account, connection):
    from integrations.services.tokens import client_for

    client = client_for(connection)
    made = client.customer_list_create(ad_account.pinterest_id, name="CRM export", list_type="EMAIL",
                                       records=[f"{i:064x}" for i in range(120)])
    existing = client.audience_create_from_list(ad_account.pinterest_id, name="CRM audience", customer_list_id=made.id)

    audience = services.audience_use_existing(workspace=acme, ad_account=ad_account, pinterest_audience_id=existing.id)
    canvas = services.canvas_create(workspace=acme, name="Existing")
    services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience)
    services.canvas_launch(canvas=canvas)
    services.users_enter(canvas=canvas, users=make_users(10))
    send_due_now()

    assert audience.lists.get().pinterest_customer_list_id == made.id
    assert len(sandbox.state.customer_list_records(made.id)) == 130
    assert not SendLog.objects.filter(operation="CREATE_LIST").exists()


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_meets_its_list_being_created_waits_for_it_instead_of_backing_off(sandbox, add_canvas):
    """An audience's first second: several requests start at once and only one may create the list."""
    import threading

    from audiences import leases
    from audiences.models import SyncRecord
    from audiences.sending import delivery
    from audiences.sending import pinterest as to_pinterest

    audience = add_canvas.steps.get().audience
    services.users_enter(canvas=add_canvas, users=make_users(300))
    sandbox.state.set_faults(latency_ms=700)  # the other sender's create takes a while

    def other_sender_creates_the_list():
        try:
            to_pinterest.send(audience, "add", [make_hash(i) for i in range(100)])
        finally:
            db_connection.close()

    other = threading.Thread(target=other_sender_creates_the_list)
    other.start()
    deadline = time.monotonic() + 10
    while not leases.is_live(f"create-list:{audience.pk}"):
        assert time.monotonic() < deadline, "the other sender never started creating the list"
        time.sleep(0.01)
    delivered = delivery.send_batch(audience.pk, "add")
    other.join()

    assert delivered.handled == 300
    records = SyncRecord.objects.filter(step__canvas=add_canvas)
    assert records.filter(state="synced", attempts=0).count() == 300  # sent at the first try, no backoff
    assert list(SendLog.objects.order_by("id").values_list("operation", "outcome")) == [
        ("CREATE_LIST", "ok"), ("ADD", "ok")
    ]


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_list_creator_died_creates_the_list_itself_once_its_lease_lapses(sandbox, add_canvas):
    """A sender killed mid-create leaves its lease to lapse: the batch waiting on it sends at once, no backoff."""
    from audiences import leases
    from audiences.models import SyncRecord
    from audiences.sending import delivery

    audience = add_canvas.steps.get().audience
    services.users_enter(canvas=add_canvas, users=make_users(300))
    assert leases.acquire(f"create-list:{audience.pk}", "a-killed-sender", seconds=0.5)

    delivered = delivery.send_batch(audience.pk, "add")

    assert delivered.handled == 300
    records = SyncRecord.objects.filter(step__canvas=add_canvas)
    assert records.filter(state="synced", attempts=0).count() == 300
    assert len(sandbox.state.customer_lists()) == 1


def make_hash(i: int) -> str:
    import hashlib

    return hashlib.sha256(f"seed{i}@example.com".encode()).hexdigest()


def test_a_customer_list_deleted_on_pinterest_is_made_again_with_every_user_it_had(sandbox, add_canvas):
    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(120))
    send_due_now()
    services.audiences_sweep()
    audience = Audience.objects.get(pk=step.audience_id)
    first_list = audience.lists.get().pinterest_customer_list_id
    assert sandbox.state.delete_list(first_list)  # as Ads Manager can; the API has no delete

    services.users_enter(canvas=add_canvas, users=make_users(10, start=1_000))
    send_due_now()  # meets the 404, forgets the list and its audience: everyone is due again
    # Past the backoff, and far enough that the limiter ignores this clock's send times afterwards.
    with time_machine.travel(timezone.now() + timedelta(minutes=15), tick=True):
        send_due_now()  # after the failed batch's backoff, a new list with all of them

        audience.refresh_from_db()
        new_list = audience.lists.get().pinterest_customer_list_id
        assert new_list != first_list
        assert len(sandbox.state.customer_list_records(new_list)) == 130
        numbers = step_metrics(step)
        assert (numbers.synced, numbers.pending, numbers.errored) == (130, 0, 0)
        services.audiences_sweep(force=True)
        audience.refresh_from_db()
        assert audience.status == Audience.Status.READY and audience.pinterest_audience_id
        remote = {a["id"]: a for a in sandbox.state.audiences()}[audience.pinterest_audience_id]
        assert remote["rule"]["customer_list_id"] == new_list


def test_users_sent_into_a_list_as_it_is_deleted_go_into_the_new_list_too(sandbox, add_canvas, monkeypatch):
    """A batch reaches the old list just before it is deleted, and another sender finds it gone first."""
    from audiences.sending import pinterest as to_pinterest
    from audiences.sending import signals

    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(100))
    send_due_now()
    old_list = Audience.objects.get(pk=step.audience_id).lists.get().pinterest_customer_list_id

    services.users_enter(canvas=add_canvas, users=make_users(20, start=1_000))
    send = to_pinterest.send

    def sent_as_the_list_is_deleted(audience, action, hashes):
        monkeypatch.undo()  # once
        send(audience, action, hashes)  # accepted into the old list
        sandbox.state.delete_list(old_list)
        signals.customer_list_missing.send(sender=Audience, audience_id=audience.pk)  # another sender's 404

    monkeypatch.setattr(to_pinterest, "send", sent_as_the_list_is_deleted)
    send_due_now()  # the 20 are not counted synced into the deleted list: they go again, with the 100
    new_list = Audience.objects.get(pk=step.audience_id).lists.get().pinterest_customer_list_id
    assert new_list != old_list
    assert len(sandbox.state.customer_list_records(new_list)) == 120
    assert step_metrics(step).synced == 120
