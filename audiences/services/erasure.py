"""Taking a user out of every Pinterest audience of a workspace: the only writer of PrivacyRequest.

Two kinds of request share one path:

- an erasure ("erase user X"): the user's waiting sends are dropped, every
  audience the ledger says they are in gets a REMOVE with every identifier it
  holds for them, and once Pinterest accepted all of them their sync records,
  delay records and ledger entries are deleted. The steps' counts keep them
  (a waiting user counts as not synced, a user waiting in a delay as exited),
  and the request keeps only what was removed, as counts;
- a removal after suppression: the same REMOVEs, waiting adds dropped, nothing deleted.

A request stays pending, retried with backoff by the `privacy requests`
schedule, until Pinterest accepted every removal, so it survives restarts,
a disconnected workspace and Pinterest being down. A request is claimed by a
conditional UPDATE of its next attempt, so two workers never run one at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audiences.models import Audience, AudienceMember, DelayRecord, PrivacyRequest, Step, SyncRecord
from audiences.sending import ledger, records
from audiences.sending import pinterest as to_pinterest
from audiences.sending.delivery import backoff_seconds
from audiences.services import delays
from audiences.services.audit import audit_record
from audiences.services.entries import user_validate
from audiences.services.errors import ServiceError
from integrations.models import Workspace

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 120  # a worker that dies holding a request leaves it due again after this
Kind, Status = PrivacyRequest.Kind, PrivacyRequest.Status


class NothingToErase(ServiceError):
    """The workspace holds nothing about this user (never entered, or erased already)."""


def user_known(*, workspace: Workspace, external_id: str) -> bool:
    """Whether the workspace holds anything about the user: a sync or delay record, or a ledger entry."""
    return (
        SyncRecord.objects.filter(step__canvas__workspace=workspace, external_id=external_id).exists()
        or DelayRecord.objects.filter(step__canvas__workspace=workspace, external_id=external_id).exists()
        or AudienceMember.objects.filter(audience__workspace=workspace, external_id=external_id).exists()
    )


def erasure_request(*, workspace: Workspace, external_id: str) -> PrivacyRequest:
    """Start erasing a user (or answer the erasure of them already under way).

    EntryRejected for an id no entry would take; NothingToErase when the
    workspace holds nothing about the user.
    """
    external_id = user_validate({"external_id": external_id})["external_id"]
    with transaction.atomic():
        request = PrivacyRequest.objects.filter(workspace=workspace, kind=Kind.ERASE, status=Status.PENDING,
                                                external_id=external_id).first()
        if request is None and not user_known(workspace=workspace, external_id=external_id):
            raise NothingToErase("Nothing is held about this user in this workspace: nothing to erase.")
        if request is None:
            request = PrivacyRequest.objects.create(workspace=workspace, kind=Kind.ERASE, external_id=external_id)
            # The log names the request, never the user: an erased user leaves no trace.
            audit_record(workspace=workspace, action="user.erase", target=f"erasure #{request.pk}")
    return request


def removal_request(*, workspace: Workspace, external_id: str) -> PrivacyRequest | None:
    """Take a suppressed user out of the workspace's audiences; None when a request for them is pending already."""
    if PrivacyRequest.objects.filter(workspace=workspace, status=Status.PENDING, external_id=external_id).exists():
        return None
    return PrivacyRequest.objects.create(workspace=workspace, kind=Kind.SUPPRESS, external_id=external_id)


def privacy_requests_process(*, now: datetime | None = None, limit: int = 100) -> int:
    """Work on the due requests (a schedule calls this every minute). Returns how many are done."""
    now = now or timezone.now()
    done = 0
    due = PrivacyRequest.objects.filter(status=Status.PENDING, next_attempt_at__lte=now).order_by("next_attempt_at")
    for request in list(due[:limit]):
        claimed = PrivacyRequest.objects.filter(
            pk=request.pk, status=Status.PENDING, next_attempt_at=request.next_attempt_at
        ).update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
        if claimed and privacy_request_run(request=request):
            done += 1
    return done


def privacy_request_run(*, request: PrivacyRequest) -> bool:
    """One attempt at one request; True when it is done."""
    external_id, workspace_id = request.external_id, request.workspace_id
    step_ids = list(Step.objects.filter(canvas__workspace_id=workspace_id).values_list("pk", flat=True))
    audience_ids = list(Audience.objects.filter(workspace_id=workspace_id).values_list("pk", flat=True))
    summary = {"pending_dropped": 0, "audiences": 0, "identifiers_removed": 0, **request.removed}
    now = timezone.now()
    dropped, in_flight = records.skip_pending_user(step_ids=step_ids, external_id=external_id,
                                                   adds_only=request.kind == Kind.SUPPRESS, now=now)
    summary["pending_dropped"] += dropped
    if in_flight:
        # A sender holds a batch with the user: remove after it lands, or its ADD would undo the removal.
        return _later(request, summary, "A batch with this user is being sent; removing them once it is done.",
                      seconds=settings.SYNC_LEASE_SECONDS, attempt=False)
    for audience_id, hashes in sorted(ledger.memberships(audience_ids, external_id).items()):
        audience = Audience.objects.select_related("ad_account__connection").get(pk=audience_id)
        values = sorted(hashes)
        try:
            for start in range(0, len(values), settings.SYNC_BATCH_SIZE):
                to_pinterest.send(audience, Step.Action.REMOVE, values[start:start + settings.SYNC_BATCH_SIZE])
        except to_pinterest.PinterestProblem as exc:
            return _later(request, summary, f"Removing from audience {audience}: {exc}")
        with transaction.atomic():
            ledger.record(audience_id, added=[], removed=[external_id], now=timezone.now())
            summary["audiences"] += 1
            summary["identifiers_removed"] += len(values)
            PrivacyRequest.objects.filter(pk=request.pk).update(removed=summary)
    with transaction.atomic():
        if request.kind == Kind.ERASE:
            summary["sync_records_deleted"] = records.erase_user(step_ids=step_ids, external_id=external_id)
            summary["delay_records_deleted"] = delays.erase_user(step_ids=step_ids, external_id=external_id)
            summary["ledger_entries_deleted"] = ledger.erase_user(audience_ids, external_id)
        PrivacyRequest.objects.filter(pk=request.pk).update(
            status=Status.DONE, done_at=timezone.now(), removed=summary, last_error="",
            external_id="",  # kept only while needed: neither kind of request remembers whom it was about
        )
    if request.kind == Kind.ERASE:
        transaction.on_commit(_checkpoint_sqlite)
    logger.info("privacy request %s (%s) done: %s", request.pk, request.kind, summary)
    return True


def _checkpoint_sqlite() -> None:
    """On SQLite, copy the write-ahead log into the database file and empty it, once an erasure is done.

    Every connection deletes with secure_delete on (the settings), which
    zeroes the deleted rows in the pages it writes; but the log keeps older
    images of those pages, with the user's id, until a checkpoint. A reader
    still open elsewhere can keep part of the log: the next checkpoint does it.
    """
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy, _, _ = cursor.fetchone()
    if busy:
        logger.info("the database's write-ahead log could not be emptied now (a reader is open)")


def _later(request: PrivacyRequest, summary: dict, reason: str, *, seconds: float | None = None,
           attempt: bool = True) -> bool:
    attempts = request.attempts + (1 if attempt else 0)
    wait = seconds if seconds is not None else backoff_seconds(min(attempts, 20))
    PrivacyRequest.objects.filter(pk=request.pk).update(
        attempts=attempts, last_error=reason[:1000], removed=summary,
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )
    logger.info("privacy request %s not done yet: %s", request.pk, reason)
    return False
