"""Delay steps: users whose wait is over enter the canvas's next step (a schedule calls this every minute).

The waiting users are DelayRecord rows (written only by audiences.services.delays);
entering the next step is the same walk an entry takes (audiences.services.steps).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from audiences.models import Step
from audiences.sending import pump
from audiences.services import delays
from audiences.services.steps import EntryResult, HashedUser, walk


def delays_advance(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Users whose delay has passed enter the next step (a schedule calls this)."""
    now = now or timezone.now()
    moved = 0
    for step_id in delays.delay_steps_due(now=now):
        step = Step.objects.select_related("canvas").get(pk=step_id)
        steps = list(step.canvas.steps.order_by("position", "id").select_related("audience"))
        index = next(i for i, s in enumerate(steps) if s.pk == step.pk)
        with transaction.atomic():
            rows = delays.delay_records_release(step=step, now=now, leaving_canvas=index == len(steps) - 1, limit=limit)
            if rows is None:
                transaction.set_rollback(True)
                continue
            users = [HashedUser(r.external_id, r.email_hash, r.idfa_hash, r.maid_hash) for r in rows]
            for write in walk(steps, index + 1, users, now, EntryResult()):
                write()
            transaction.on_commit(pump.wake)
            moved += len(rows)
    return moved
