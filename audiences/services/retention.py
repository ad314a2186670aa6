"""Retention: old rows about users and requests are deleted in the background, as fast as they are written.

Synced, not-synced and suppressed sync records, delay records of users who
moved on, and finished send-log rows older than RETENTION_DAYS (default 30),
finished privacy requests after the same age, and audit events older than
AUDIT_RETENTION_DAYS (default 365). A step's figures, chart and latency
histogram do not read the records: they read the counts moved with them
(StepCount, StepHour, StepLatency, StepSent), which are kept, so every
figure stays exact. Pending and errored records are kept whatever their age:
they can still be sent or retried. The ledger (who is in which audience) is
kept as long as the audience: removals need it.

How it keeps pace. Rows are written in time order, so a table's id is its
clock: the boundary between old and new rows is found by a binary search on
the primary key (about 30 one-row lookups), and old rows are deleted in
windows of consecutive ids (`WINDOW`), each one primary-key range, so a
batch costs the same with a thousand rows or a billion, and deletes the
oldest first. A run goes on until nothing old is left or RETENTION_RUN_SECONDS
have passed (a schedule starts one every minute; `retention_purge` runs
until done), then records where it stands (RetentionProgress) for /metrics
and /healthz.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Min, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from audiences import leases
from audiences.models import AuditEvent, DelayRecord, PrivacyRequest, RetentionProgress, SendLog, SyncRecord

WINDOW = 5000  # ids per delete statement
LEASE = "retention"

FINISHED_STATES = (SyncRecord.State.SYNCED, SyncRecord.State.NOT_SYNCED, SyncRecord.State.SUPPRESSED)


def _finished_records(rows: QuerySet) -> QuerySet:
    # Compared through a function of the column, so no planner walks the sender's index, which starts with the
    # state and holds millions of synced rows: the primary key's window drives every delete.
    return rows.alias(state_text=Lower("state")).filter(state_text__in=FINISHED_STATES)


@dataclass(frozen=True)
class Kind:
    """One kind of row retention deletes: rows of `model` that `finished` keeps, whose `clock` is older than the window."""

    name: str
    model: type
    clock: str  # the time column; ids follow it (rows are written in time order)
    finished: Callable[[QuerySet], QuerySet]
    days_setting: str


KINDS = (
    Kind("sync_records", SyncRecord, "entered_at", _finished_records, "RETENTION_DAYS"),
    Kind("delay_records", DelayRecord, "entered_at", lambda rows: rows.exclude(state=DelayRecord.State.WAITING),
         "RETENTION_DAYS"),
    Kind("send_logs", SendLog, "started_at", lambda rows: rows.exclude(outcome=SendLog.Outcome.STARTED),
         "RETENTION_DAYS"),
    Kind("audit_events", AuditEvent, "at", lambda rows: rows, "AUDIT_RETENTION_DAYS"),
)
KINDS_BY_NAME = {kind.name: kind for kind in KINDS}


def window_seconds(kind_name: str) -> float:
    """How long rows of this kind are kept."""
    setting = KINDS_BY_NAME[kind_name].days_setting if kind_name in KINDS_BY_NAME else "RETENTION_DAYS"
    return getattr(settings, setting) * 86400


def retention_purge(*, now: datetime | None = None, seconds: float | None = None) -> dict[str, int]:
    """Delete old rows of every kind until none is left or `seconds` have passed (None: the setting; 0: no limit).

    Returns the rows deleted per kind. One run at a time across every
    process (a lease); a run that finds another going returns at once.
    """
    now = now or timezone.now()
    seconds = settings.RETENTION_RUN_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds if seconds else float("inf")
    owner = f"retention-{time.monotonic_ns()}"
    lease_seconds = (seconds or 3600) + 60
    deleted = {kind.name: 0 for kind in KINDS}
    deleted["privacy_requests"] = 0
    if not leases.acquire(LEASE, owner, seconds=lease_seconds):
        return deleted
    try:
        for kind in KINDS:
            started = time.monotonic()
            before = now - timedelta(seconds=window_seconds(kind.name))
            count, caught_up = _purge_kind(kind, before=before, deadline=deadline)
            deleted[kind.name] = count
            _record_progress(kind, now=now, started=started, deleted=count, caught_up=caught_up)
        deleted["privacy_requests"] = _purge_privacy_requests(before=now - timedelta(days=settings.RETENTION_DAYS))
    finally:
        leases.release(LEASE, owner)
    return deleted


def _purge_kind(kind: Kind, *, before: datetime, deadline: float) -> tuple[int, bool]:
    """Delete the kind's finished rows older than `before`, oldest first. Returns (deleted, whether all are gone)."""
    rows = kind.model.objects.order_by()
    first = rows.aggregate(first=Min("pk"))["first"]
    if first is None:
        return 0, True
    bound = _first_id_not_before(kind, before)  # ids from here on are new (give or take a straggler)
    old = kind.finished(rows).filter(**{f"{kind.clock}__lt": before})
    deleted, cursor = 0, first
    while cursor is not None and cursor < bound:
        if time.monotonic() >= deadline:
            return deleted, False
        upper = min(cursor + WINDOW, bound)
        deleted += old.filter(pk__gte=cursor, pk__lt=upper).delete()[0]
        # Skip the gap left by earlier runs: the next id that exists, one index lookup.
        cursor = rows.filter(pk__gte=upper).aggregate(next=Min("pk"))["next"]
    return deleted, True


def _first_id_not_before(kind: Kind, before: datetime) -> int:
    """The smallest id whose row is not older than `before` (past the last id when every row is).

    A binary search over the primary key, reading one row per step: rows are
    written in time order, so their times rise with their ids.
    """
    rows = kind.model.objects.order_by()
    span = rows.aggregate(first=Min("pk"), last=Max("pk"))
    # Rows below `low` are old; rows from `high` on are new.
    low, high = span["first"], span["last"] + 1
    while low < high:
        middle = (low + high) // 2
        found = rows.filter(pk__gte=middle, pk__lt=high).order_by("pk").values_list("pk", kind.clock).first()
        if found is not None and found[1] < before:
            low = found[0] + 1
        else:
            high = middle  # no row in [middle, found) and `found` is new, or no row at all up to `high`
    return low


def _oldest_kept(kind: Kind) -> datetime | None:
    """When the oldest finished row still kept was written (rows kept on purpose, pending or errored, are skipped)."""
    return (
        kind.finished(kind.model.objects.all()).order_by("pk").values_list(kind.clock, flat=True).first()
    )


def _record_progress(kind: Kind, *, now: datetime, started: float, deleted: int, caught_up: bool) -> None:
    progress, _ = RetentionProgress.objects.get_or_create(kind=kind.name)
    progress.last_run_at = now
    progress.last_run_seconds = round(time.monotonic() - started, 3)
    progress.last_deleted = deleted
    progress.deleted_total += deleted
    progress.caught_up = caught_up
    progress.oldest_kept_at = _oldest_kept(kind)
    progress.save()


def _purge_privacy_requests(*, before: datetime) -> int:
    """Finished privacy requests (a few a day) after the same age as the records."""
    done = PrivacyRequest.objects.filter(status=PrivacyRequest.Status.DONE, done_at__lt=before).order_by()
    return done.delete()[0]
