"""The numbers a step shows, read from its counts (audiences.step_counts).

The counts move in the same transaction as the users' states, so reading
them is a few rows at any size and Entered = Synced + Not Synced + Pending +
Errored at every read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from audiences import step_counts
from audiences.models import DelayRecord, Step, SyncRecord
from audiences.sending import ledger
from project import db

EXPLANATIONS = {
    "entered": "Users who reached this step.",
    "proceeded": "Users who went on to the next step.",
    "synced": "Users Pinterest accepted into (or out of) the audience.",
    "not_synced": "Users with none of the step's match fields, or on the workspace's suppression list; they are "
                  "never sent.",
    "pending": "Users waiting for the next batch or for a retry.",
    "errored": "Users who could not be sent within 13 hours; they can be retried.",
    "exited": "Users who left the canvas after this step.",
}


@dataclass(frozen=True)
class StepMetrics:
    entered: int
    proceeded: int
    synced: int
    not_synced: int
    pending: int
    errored: int
    exited: int
    # Of the users not synced, those skipped because they are suppressed (or erased while waiting).
    suppressed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def step_metrics(step: Step, *, is_last: bool | None = None) -> StepMetrics:
    if is_last is None:
        is_last = not db.exists(Step, "canvas_id = %s AND position > %s", [step.canvas_id, step.position])
    counts = step_counts.for_step(step.pk)
    if step.kind == Step.Kind.DELAY:
        waiting = counts.get(DelayRecord.State.WAITING, 0)
        proceeded = counts.get(DelayRecord.State.PROCEEDED, 0)
        exited = counts.get(DelayRecord.State.EXITED, 0)
        return StepMetrics(waiting + proceeded + exited, proceeded, 0, 0, 0, 0, exited)
    synced = counts.get(SyncRecord.State.SYNCED, 0)
    suppressed = counts.get(SyncRecord.State.SUPPRESSED, 0)
    # Suppressed users are not synced for a reason of their own: inside Not Synced, so the sum holds.
    not_synced = counts.get(SyncRecord.State.NOT_SYNCED, 0) + suppressed
    pending = counts.get(SyncRecord.State.PENDING, 0)
    errored = counts.get(SyncRecord.State.ERRORED, 0)
    entered = synced + not_synced + pending + errored
    # A sync step never holds a user: everyone who entered moved on at once.
    return StepMetrics(
        entered=entered,
        proceeded=0 if is_last else entered,
        synced=synced,
        not_synced=not_synced,
        pending=pending,
        errored=errored,
        exited=entered if is_last else 0,
        suppressed=suppressed,
    )


@dataclass(frozen=True)
class TimeToPinterest:
    """How soon a step's synced users reached Pinterest, to the histogram's bucket (an upper bound)."""

    users: int
    median_within: float | None  # seconds; None: longer than the last bucket's bound (a day)
    p95_within: float | None


def time_to_pinterest(step: Step) -> TimeToPinterest | None:
    """Half and 95% of the step's synced users reached Pinterest within these times; None before anyone did."""
    histogram = step_counts.latencies_for_step(step.pk)
    users = sum(n for n, _ in histogram.values())
    if not users:
        return None

    def within(share: float) -> float | None:
        reached = 0
        for bucket in sorted(histogram):
            reached += histogram[bucket][0]
            if reached >= share * users:
                bounds = step_counts.LATENCY_BOUNDS
                return bounds[bucket] if bucket < len(bounds) else None
        return None

    return TimeToPinterest(users, within(0.5), within(0.95))


def canvas_metrics(canvas) -> list[tuple[Step, StepMetrics]]:
    steps = list(canvas.steps.order_by("position", "id"))
    return [(step, step_metrics(step, is_last=i == len(steps) - 1)) for i, step in enumerate(steps)]


def step_hourly_series(step: Step, *, hours: int = 48, now: datetime | None = None) -> list[dict]:
    """Entries and syncs per hour over the last `hours`, oldest first, zero-filled."""
    now = now or timezone.now()
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=hours - 1)
    hours_seen = step_counts.hours_for_step(step.pk, start=start)
    series = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        series.append(
            dict(zip(("hour", "entered", "synced", "errored"), (hour, *hours_seen.get(hour, (0, 0, 0)))))
        )
    return series


def audience_member_count(audience_id: int) -> int:
    """Users in the audience according to the ledger (its count row: one read whatever the audience's size)."""
    return ledger.member_count(audience_id)
