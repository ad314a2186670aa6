"""Users who could not be sent: retried on request, errored when their window runs out."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audiences.models import Step
from audiences.sending import pump, retrying
from audiences.services.audit import audit_record

logger = logging.getLogger(__name__)


def records_retry_errored(*, step: Step, last_errors: Collection[str] | None = None, cause: str = "") -> int:
    """Give a step's errored users (those errored with one of `last_errors`, when given: one cause's group)
    another retry window (13 hours), sending them at once."""
    with transaction.atomic():
        count = retrying.retry_errored(step_id=step.pk, now=timezone.now(), last_errors=last_errors)
        details = {"step": step.pk, "retried": count, **({"cause": cause} if cause else {})}
        audit_record(workspace=step.canvas.workspace_id, action="step.retry_errored", target=f"{step.canvas} / {step}",
                     details=details)
    if count:
        transaction.on_commit(pump.wake)
    return count


def records_error_expired(*, now: datetime | None = None) -> int:
    """Users not sent within the retry window (13 h after entering) become errored."""
    errored = retrying.error_expired(
        now=now or timezone.now(), retry_window=timedelta(hours=settings.SYNC_RETRY_WINDOW_HOURS)
    )
    if errored:
        logger.info("%d users errored after the retry window", errored)
    return errored
