"""A step's counts per state and per hour: the only writer of StepCount and StepHour.

Whoever changes users' states (entering, the sender finishing a batch, the
retry sweeper, retrying errored users, delays moving users on) calls `add`
and `add_hours` in the same transaction, with what it changed, so
Entered = Synced + Not Synced + Pending + Errored holds at every read and
reading costs a few rows whatever the number of users.

Keys are written in sorted order so two transactions touching the same
rows always lock them in the same order (no deadlock on PostgreSQL).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from django.db import connection
from django.db.models import Sum

from audiences.bulk_sql import db_datetime, table
from audiences.models import StepCount, StepHour


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def add(changes: Counter | dict[tuple[int, str], int]) -> None:
    """Add each delta to its (step id, state) count."""
    rows = sorted((step_id, state, n) for (step_id, state), n in changes.items() if n)
    if not rows:
        return
    counts = table(StepCount)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {counts} (step_id, state, n) VALUES (%s, %s, %s) "
            f"ON CONFLICT (step_id, state) DO UPDATE SET n = {counts}.n + excluded.n",
            rows,
        )


def add_hours(changes: dict[tuple[int, datetime], tuple[int, int, int]]) -> None:
    """Add (entered, synced, errored) to each (step id, hour)."""
    rows = sorted(
        (step_id, db_datetime(hour_of(hour)), *values)
        for (step_id, hour), values in changes.items()
        if any(values)
    )
    if not rows:
        return
    hours = table(StepHour)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {hours} (step_id, hour, entered, synced, errored) VALUES (%s, %s, %s, %s, %s) "
            f"ON CONFLICT (step_id, hour) DO UPDATE SET entered = {hours}.entered + excluded.entered, "
            f"synced = {hours}.synced + excluded.synced, errored = {hours}.errored + excluded.errored",
            rows,
        )


def for_step(step_id: int) -> dict[str, int]:
    return dict(StepCount.objects.filter(step_id=step_id).values_list("state", "n"))


def total(*, state: str, step_id: int | None = None, canvas_id: int | None = None) -> int:
    """Users in `state` in one step, or in every step of one canvas."""
    rows = StepCount.objects.filter(state=state)
    rows = rows.filter(step_id=step_id) if step_id is not None else rows.filter(step__canvas_id=canvas_id)
    return rows.aggregate(n=Sum("n"))["n"] or 0


def hours_for_step(step_id: int, *, start: datetime) -> dict[datetime, tuple[int, int, int]]:
    return {
        hour: (entered, synced, errored)
        for hour, entered, synced, errored in StepHour.objects.filter(step_id=step_id, hour__gte=start).values_list(
            "hour", "entered", "synced", "errored"
        )
    }
