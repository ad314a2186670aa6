"""Users waiting in Delay steps: the only writer of DelayRecord."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection

from audiences import step_counts
from audiences.bulk_sql import db_datetime, in_values, table_by_id
from audiences.models import DelayRecord, Step


def delay_records_insert(*, step: Step, users, now: datetime) -> None:
    """`users` (anything with external_id and the three hashes) start waiting; inside the caller's transaction."""
    DelayRecord.objects.bulk_create(
        [
            DelayRecord(step=step, external_id=u.external_id, email_hash=u.email_hash, idfa_hash=u.idfa_hash,
                        maid_hash=u.maid_hash, entered_at=now, wake_at=now + timedelta(seconds=step.delay_seconds))
            for u in users
        ],
        batch_size=500,
    )
    step_counts.add({(step.pk, DelayRecord.State.WAITING): len(users)})


def delay_steps_due(*, now: datetime) -> list[int]:
    """Steps of active canvases with users whose wait is over."""
    return list(
        DelayRecord.objects.filter(state=DelayRecord.State.WAITING, wake_at__lte=now, step__canvas__status="active")
        .values_list("step_id", flat=True).distinct()
    )


def delay_records_release(*, step: Step, now: datetime, leaving_canvas: bool, limit: int) -> list[DelayRecord] | None:
    """Up to `limit` users whose wait is over leave the step; inside the caller's transaction.

    Returns them, or None when another sweeper moved some of them first (the
    caller rolls back and moves on: nobody is moved twice).
    """
    ids = list(
        DelayRecord.objects.filter(step=step, state=DelayRecord.State.WAITING, wake_at__lte=now)
        .values_list("pk", flat=True)[:limit]
    )
    # By id only, the state tested on each row found: with `state = 'waiting'` in the WHERE, SQLite
    # walked `delayrecord_due` over every waiting user of every step to find these few.
    rows = [row for row in DelayRecord.objects.filter(pk__in=ids) if row.state == DelayRecord.State.WAITING]
    new_state = DelayRecord.State.EXITED if leaving_canvas else DelayRecord.State.PROCEEDED
    ids_clause, ids_param = in_values("id", [row.pk for row in rows])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table_by_id(DelayRecord)} SET state = %s, left_at = %s WHERE state = %s AND {ids_clause}",
            [new_state, db_datetime(now), DelayRecord.State.WAITING, ids_param],
        )
        updated = cursor.rowcount
    if updated != len(rows):
        return None
    step_counts.add({(step.pk, DelayRecord.State.WAITING): -updated, (step.pk, new_state): updated})
    return rows


def erase_user(*, step_ids: list[int], external_id: str) -> int:
    """Delete the user's delay records (an erasure): one still waiting counts as having exited the canvas."""
    rows = DelayRecord.objects.filter(step_id__in=step_ids, external_id=external_id)
    waiting: dict[int, int] = {}
    for step_id in rows.filter(state=DelayRecord.State.WAITING).values_list("step_id", flat=True):
        waiting[step_id] = waiting.get(step_id, 0) + 1
    changes = {}
    for step_id, n in waiting.items():
        changes[(step_id, DelayRecord.State.WAITING)] = -n
        changes[(step_id, DelayRecord.State.EXITED)] = n
    step_counts.add(changes)
    return rows.delete()[0]
