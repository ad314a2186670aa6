"""Records given another chance, or none: retrying errored users, erroring expired ones, resending and resuming.

Part of the one writer of SyncRecord (audiences.sending.records): each move
adds to the step's counts in the same transaction, and every list with due
records is put on the sender's work list (`records.touch`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q

from audiences import step_counts
from audiences.models import SyncRecord
from audiences.sending.records import ERRORED, HASH_COLUMNS, PENDING, SYNCED, reason_text, touch


def retry_errored(*, step_id: int, now: datetime, last_errors: Collection[str] | None = None) -> int:
    """The step's errored users (those with one of `last_errors`, when given) get another retry window, due at
    once. Returns how many."""
    errored = SyncRecord.objects.filter(step_id=step_id, state=ERRORED)
    if last_errors is not None:
        errored = errored.filter(last_error__in=list(last_errors))
    with transaction.atomic():
        touch(errored.exclude(audience=None).values_list("audience_id", "action").distinct())
        count = errored.update(
            state=PENDING, entered_at=now, next_attempt_at=now, errored_at=None, attempts=0,
            lease_owner="", lease_expires_at=None,
        )
        step_counts.add({(step_id, ERRORED): -count, (step_id, PENDING): count})
    return count


def error_expired(*, now: datetime, retry_window: timedelta) -> int:
    """Users still pending `retry_window` after entering become errored, with the last reason kept."""
    expired = SyncRecord.objects.filter(state=PENDING, entered_at__lte=now - retry_window).exclude(
        lease_expires_at__gt=now
    )
    errored = 0
    hours_text = f"{retry_window.total_seconds() / 3600:g}"
    for step_id, last_error in list(expired.values_list("step_id", "last_error").distinct()):
        reason = last_error or "Not sent within the retry window."
        with transaction.atomic():
            count = expired.filter(step_id=step_id, last_error=last_error).update(
                state=ERRORED, errored_at=now, last_error=reason_text(f"Gave up after {hours_text} hours: {reason}"),
                lease_owner="", lease_expires_at=None,
            )
            step_counts.add({(step_id, PENDING): -count, (step_id, ERRORED): count})
            step_counts.add_hours({(step_id, now): (0, 0, count)})
        errored += count
    return errored


def resend_added(*, audience_id: int, now: datetime) -> int:
    """The audience's users who were added are due again (its list is gone at Pinterest). Returns how many.

    Users being sent right now are due again too: their batch may have
    reached the old list just before it was deleted, and its sender, finding
    its claim taken back, leaves them pending instead of counting them synced
    into a list that is gone. Taking the claims back first also waits for any
    batch that is recording its outcome, so its users are counted here as
    synced and moved back with the others.

    Records that retention already deleted cannot come back; their users are
    added again when they next enter.
    """
    added = SyncRecord.objects.filter(audience_id=audience_id, action="add", state=SYNCED)
    moved = 0
    with transaction.atomic():
        SyncRecord.objects.filter(audience_id=audience_id, action="add", state=PENDING).exclude(lease_owner="").update(
            lease_owner="", lease_expires_at=None, next_attempt_at=now,
        )
        for step_id in list(added.values_list("step_id", flat=True).distinct()):
            carried = added.filter(step_id=step_id).aggregate(**{
                list_type: Count("id", filter=~Q(**{f"{column}": ""})) for list_type, column in HASH_COLUMNS
            })
            step_counts.add_sent_types({(step_id, list_type): -n for list_type, n in carried.items()})
            count = added.filter(step_id=step_id).update(
                state=PENDING, synced_at=None, sent_types=0, next_attempt_at=now, attempts=0,
                lease_owner="", lease_expires_at=None,
            )
            step_counts.add({(step_id, SYNCED): -count, (step_id, PENDING): count})
            moved += count
        if moved:
            touch([(audience_id, "add")])
    return moved


def resume_held(*, connection_id: int, now: datetime) -> int:
    """Users held while the connection was invalid are due at once. Returns how many."""
    waiting = SyncRecord.objects.filter(state=PENDING, audience__ad_account__connection_id=connection_id)
    with transaction.atomic():
        touch(waiting.values_list("audience_id", "action").distinct())
        return waiting.update(next_attempt_at=now)
