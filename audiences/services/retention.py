"""Retention: old rows about users and requests are deleted in the background, in small batches.

Synced, not-synced and suppressed sync records and finished send-log rows
older than RETENTION_DAYS (default 30), finished privacy requests after
the same age, and audit events older than AUDIT_RETENTION_DAYS (default
365). A step's figures and chart do not read the records: they read the
counts moved with them (StepCount, StepHour), which are kept, so every
figure stays exact. Pending and errored records are kept whatever their
age: they can still be sent or retried. The ledger (who is in which
audience) is kept as long as the audience: removals need it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from audiences.models import AuditEvent, PrivacyRequest, SendLog
from audiences.sending import records

BATCH = 1000


def _purge(queryset, *, limit: int) -> int:
    ids = list(queryset.values_list("pk", flat=True)[:limit])
    return queryset.model.objects.filter(pk__in=ids).delete()[0] if ids else 0


def retention_purge(*, now: datetime | None = None, batch: int = BATCH, max_batches: int = 50) -> dict[str, int]:
    """Delete up to `max_batches` batches of each kind of old row; a schedule calls this every few minutes."""
    now = now or timezone.now()
    before = now - timedelta(days=settings.RETENTION_DAYS)
    deleted = {"sync_records": 0, "send_logs": 0, "privacy_requests": 0, "audit_events": 0}
    old_logs = SendLog.objects.filter(started_at__lt=before).exclude(outcome=SendLog.Outcome.STARTED)
    old_requests = PrivacyRequest.objects.filter(status=PrivacyRequest.Status.DONE, done_at__lt=before)
    old_events = AuditEvent.objects.filter(at__lt=now - timedelta(days=settings.AUDIT_RETENTION_DAYS))
    for _ in range(max_batches):
        moved = {
            "sync_records": records.purge_finished(before=before, limit=batch),
            "send_logs": _purge(old_logs, limit=batch),
            "privacy_requests": _purge(old_requests, limit=batch),
            "audit_events": _purge(old_events, limit=batch),
        }
        for key, n in moved.items():
            deleted[key] += n
        if not any(moved.values()):
            break
    return deleted
