"""A step's counts per state and per hour, its users' times to Pinterest and the identifier types its synced
users carried: the only writer of StepCount, StepHour, StepLatency and StepSent.

Whoever changes users' states (entering, the sender finishing a batch, the
retry sweeper, retrying errored users, delays moving users on) calls `add`
and `add_hours` in the same transaction, with what it changed, so
Entered = Synced + Not Synced + Pending + Errored holds at every read and
reading costs a few rows whatever the number of users. The sender finishing
a batch adds its synced users' times from entering to Pinterest
(`add_latencies`) the same way: a histogram, exact from any process; and
how many of them carried each identifier type (`add_sent_types`), so the
analytics page never counts records (which retention deletes).

Keys are written in sorted order so two transactions touching the same
rows always lock them in the same order (no deadlock on PostgreSQL).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import Sum

from audiences.bulk_sql import add_to_rows, db_datetime, python_datetime, table
from audiences.models import StepCount, StepHour, StepLatency, StepSent

# Upper bounds (seconds, inclusive) of the entry-to-Pinterest histogram's buckets; one more bucket holds the rest.
# Fixed: StepLatency rows store an index into it, so a bound may only ever be appended.
LATENCY_BOUNDS = (1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300, 900, 3600, 21600, 86400)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def add(changes: Counter | dict[tuple[int, str], int]) -> None:
    """Add each delta to its (step id, state) count."""
    add_to_rows(StepCount, ("step_id", "state"), ("n",),
                 [(step_id, state, n) for (step_id, state), n in changes.items() if n])


def add_hours(changes: dict[tuple[int, datetime], tuple[int, int, int]]) -> None:
    """Add (entered, synced, errored) to each (step id, hour)."""
    add_to_rows(StepHour, ("step_id", "hour"), ("entered", "synced", "errored"),
                 [(step_id, db_datetime(hour_of(hour)), *values) for (step_id, hour), values in changes.items()
                  if any(values)])


def latency_bucket(seconds: float) -> int:
    """The index of the bucket `seconds` falls in (len(LATENCY_BOUNDS): longer than the last bound)."""
    return bisect_left(LATENCY_BOUNDS, seconds)


def add_latencies(latencies: Iterable[tuple[int, float, int]]) -> None:
    """Count synced users in their step's histogram: (step id, seconds from entering to Pinterest, how many users)."""
    buckets: dict[tuple[int, int], list] = {}
    for step_id, seconds, users in latencies:
        seconds = max(seconds, 0.0)  # a clock that stepped back must not make a negative time
        bucket = buckets.setdefault((step_id, latency_bucket(seconds)), [0, 0.0])
        bucket[0] += users
        bucket[1] += seconds * users
    add_to_rows(StepLatency, ("step_id", "bucket"), ("n", "seconds"),
                 [(step_id, bucket, n, seconds) for (step_id, bucket), (n, seconds) in buckets.items()])


def add_sent_types(changes: Counter | dict[tuple[int, str], int]) -> None:
    """Add each delta to its (step id, list type) count of synced users carrying that identifier type."""
    add_to_rows(StepSent, ("step_id", "list_type"), ("n",),
                 [(step_id, list_type, n) for (step_id, list_type), n in changes.items() if n])


def sent_types_for_step(step_id: int) -> dict[str, int]:
    """List type -> the step's synced users who carried it."""
    return dict(StepSent.objects.filter(step_id=step_id).values_list("list_type", "n"))


def latencies_for_step(step_id: int) -> dict[int, tuple[int, float]]:
    """The step's histogram: bucket index -> (users, their seconds summed)."""
    return {
        bucket: (n, seconds)
        for bucket, n, seconds in StepLatency.objects.filter(step_id=step_id).values_list("bucket", "n", "seconds")
    }


def for_step(step_id: int) -> dict[str, int]:
    # A raw statement: partners poll a step's metrics several times a second, and compiling the
    # ORM query cost more than reading its few rows.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT state, n FROM {table(StepCount)} WHERE step_id = %s", [step_id])
        return dict(cursor.fetchall())


def total(*, state: str, step_id: int | None = None, canvas_id: int | None = None) -> int:
    """Users in `state` in one step, or in every step of one canvas."""
    rows = StepCount.objects.filter(state=state)
    rows = rows.filter(step_id=step_id) if step_id is not None else rows.filter(step__canvas_id=canvas_id)
    return rows.aggregate(n=Sum("n"))["n"] or 0


def hours_for_step(step_id: int, *, start: datetime) -> dict[datetime, tuple[int, int, int]]:
    # Raw, as for_step.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT hour, entered, synced, errored FROM {table(StepHour)} WHERE step_id = %s AND hour >= %s",
                       [step_id, db_datetime(start)])
        return {python_datetime(hour): (entered, synced, errored) for hour, entered, synced, errored in cursor}
