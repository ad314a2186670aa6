"""Failed sends are retried with backoff for 13 hours; then the user is errored."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audiences import services
from audiences.sending import delivery
from audiences.sending.pump import send_due_now
from audiences.metrics import step_metrics
from audiences.models import SendLog, SyncRecord
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def retry_until(deadline, traveller):
    """Act as the schedules would: send when due, sweep expired users, until `deadline`."""
    while True:
        send_due_now()
        services.records_error_expired()
        record = SyncRecord.objects.get()
        if record.state != SyncRecord.State.PENDING:
            return record
        next_time = max(record.next_attempt_at, timezone.now() + timedelta(seconds=1))
        if next_time > deadline:
            traveller.move_to(deadline)
            services.records_error_expired()
            return SyncRecord.objects.get()
        traveller.move_to(next_time)


def test_it_errors_a_user_exactly_13_hours_after_entering_when_pinterest_keeps_answering_429(sandbox, add_canvas):
    sandbox.state.set_faults(rate_429=1.0)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        services.users_enter(canvas=add_canvas, users=make_users(1))
        entered_at = SyncRecord.objects.get().entered_at

        record = retry_until(entered_at + timedelta(hours=13) - timedelta(seconds=1), traveller)
        assert record.state == SyncRecord.State.PENDING
        assert record.attempts > 10  # retried all along, with backoff

        traveller.move_to(entered_at + timedelta(hours=13))
        services.records_error_expired()

    record = SyncRecord.objects.get()
    assert record.state == SyncRecord.State.ERRORED
    assert record.errored_at - entered_at == timedelta(hours=13)
    assert "rate limit" in record.last_error.lower()
    numbers = step_metrics(add_canvas.steps.get())
    assert (numbers.entered, numbers.errored, numbers.pending) == (1, 1, 0)


def test_it_syncs_the_user_when_pinterest_recovers_at_12_hours(sandbox, add_canvas):
    sandbox.state.set_faults(rate_429=1.0)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        services.users_enter(canvas=add_canvas, users=make_users(1))
        entered_at = SyncRecord.objects.get().entered_at

        retry_until(entered_at + timedelta(hours=12), traveller)
        sandbox.state.set_faults(rate_429=0.0)
        record = retry_until(entered_at + timedelta(hours=13, minutes=5), traveller)

    assert record.state == SyncRecord.State.SYNCED
    assert entered_at + timedelta(hours=12) <= record.synced_at < entered_at + timedelta(hours=13)
    assert SendLog.objects.filter(outcome=SendLog.Outcome.RETRY).count() == record.attempts


def test_it_backs_off_exponentially_with_jitter_and_honours_retry_after():
    waits = [delivery.backoff_seconds(attempt) for attempt in range(1, 12)]
    assert waits[0] <= 2.0 and waits[5] >= 32 * 0.5 and max(waits) <= delivery.BACKOFF_CAP_SECONDS
    assert delivery.backoff_seconds(1, retry_after=30) == 30


def test_it_retries_errored_users_on_request(sandbox, add_canvas):
    sandbox.state.set_faults(rate_429=1.0)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        services.users_enter(canvas=add_canvas, users=make_users(3))
        traveller.shift(timedelta(hours=13, minutes=1))
        services.records_error_expired()
    step = add_canvas.steps.get()
    assert step_metrics(step).errored == 3

    sandbox.state.set_faults(rate_429=0.0)
    assert services.records_retry_errored(step=step) == 3
    send_due_now()

    numbers = step_metrics(step)
    assert (numbers.synced, numbers.errored) == (3, 0)
