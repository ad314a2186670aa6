"""Users who enter a launched canvas arrive at Pinterest, hashed and batched."""

import hashlib

import pytest

from audiences import services
from audiences.sending.pump import send_due_now
from audiences.metrics import step_metrics
from audiences.models import Audience, SyncRecord
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def customer_list_requests(sandbox):
    return [
        r for r in sandbox.state.requests_log()
        if "/customer_lists" in r["path"] and r["method"] in ("POST", "PATCH") and r["status"] == 200
    ]


def test_it_sends_10000_users_hashed_in_at_most_6_requests(sandbox, add_canvas):
    step = add_canvas.steps.get()

    services.users_enter(canvas=add_canvas, users=make_users(10_000))
    send_due_now()

    requests = customer_list_requests(sandbox)
    assert len(requests) <= 6
    assert all(r["records"] <= 1900 for r in requests)
    audience = Audience.objects.get()
    list_id = audience.lists.get().pinterest_customer_list_id
    at_pinterest = sandbox.state.customer_list_records(list_id)
    expected = {sha256(f"user{i}@example.com") for i in range(10_000)}
    assert at_pinterest == expected  # trimmed, lowercased, SHA-256: no raw email reached Pinterest

    numbers = step_metrics(step)
    assert numbers.synced == 10_000
    assert numbers.entered == numbers.synced + numbers.not_synced + numbers.pending + numbers.errored


def test_it_counts_users_without_a_match_field_as_not_synced_and_never_sends_them(sandbox, add_canvas):
    step = add_canvas.steps.get()
    users = make_users(5) + [{"external_id": "no-email", "ios_idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC"}]

    result = services.users_enter(canvas=add_canvas, users=users)
    send_due_now()

    assert result.not_synced == 1
    numbers = step_metrics(step)
    assert (numbers.entered, numbers.synced, numbers.not_synced, numbers.pending) == (6, 5, 1, 0)
    sent = set().union(*(sandbox.state.customer_list_records(l["id"]) for l in sandbox.state.customer_lists()))
    assert len(sent) == 5
    assert SyncRecord.objects.get(external_id="no-email").idfa_hash == ""  # not a match field: not even kept


def test_it_keeps_users_pending_until_the_sender_runs(sandbox, add_canvas):
    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(20))

    numbers = step_metrics(step)
    assert (numbers.entered, numbers.pending, numbers.synced) == (20, 20, 0)
    assert customer_list_requests(sandbox) == []


def test_it_stores_no_raw_identifiers(sandbox, add_canvas):
    services.users_enter(canvas=add_canvas, users=[{"external_id": "u1", "email": "Jane.Doe@Example.com"}])
    record = SyncRecord.objects.get()
    assert record.email_hash == sha256("jane.doe@example.com")
    values = " ".join(str(v) for v in SyncRecord.objects.values_list().get())
    assert "jane" not in values.lower()
