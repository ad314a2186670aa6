"""One batch: claim it, send it to Pinterest, record what happened.

A batch is up to SYNC_BATCH_SIZE users of one audience and operation. It
goes out in requests of at most SYNC_BATCH_SIZE identifiers (a user with an
email and an ad id counts twice; a user is never split across requests).
Outcomes and the ledger are written in one transaction.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from audiences.models import Audience, Step
from audiences.sending import ledger, records
from audiences.sending import pinterest as to_pinterest
from ops.logs import workspace_bound
from project import db

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 30 * 60.0


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; never sooner than Pinterest's Retry-After."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return max(delay * random.uniform(0.5, 1.0), retry_after or 0.0)


@dataclass(frozen=True)
class Delivered:
    handled: int  # users claimed and given an outcome
    held: bool = False  # the connection could not be used: the list waits for a reconnect


def send_batch(audience_id: int, action: str, *, at_least: int = 1) -> Delivered:
    """Claim one batch of the list's due users (none unless `at_least` are due), send it, record it."""
    owner = uuid.uuid4().hex
    began = time.monotonic()
    claimed = records.claim(audience_id, action, owner=owner, now=timezone.now(), at_least=at_least)
    if not claimed:
        return Delivered(0)
    audience = _audience_for_sending(audience_id)
    with workspace_bound(audience.workspace.slug):
        return _send_claimed(audience, action, owner, claimed, began)


def _audience_for_sending(audience_id: int) -> Audience:
    """The audience with its ad account, their Pinterest connection and the workspace.

    One raw join (project.db) rather than the ORM's: every batch asks, and
    compiling the ORM query cost more than the read.
    """
    audience = db.instance_joined(Audience, "t.id = %s", [audience_id],
                                  related=("ad_account", "ad_account__connection", "workspace"))
    if audience is None:
        raise Audience.DoesNotExist(f"Audience {audience_id} was deleted.")
    return audience


def _send_claimed(audience: Audience, action: str, owner: str, claimed: list[records.Claimed],
                  began: float) -> Delivered:
    audience_id = audience.pk
    extra = ledger.hashes_of(audience_id, [r.external_id for r in claimed]) if action == Step.Action.REMOVE else {}
    outcomes: list[tuple[records.Claimed, records.Retry | records.Error | None]] = []
    added: list[tuple[str, str, str]] = []
    removed: list[str] = []
    held = None
    for chunk, hashes in _requests(claimed, extra):
        if held is not None:
            outcomes.extend((record, held) for record in chunk)
            continue
        try:
            to_pinterest.send(audience, action, hashes)
        except to_pinterest.Held as exc:
            held = records.Retry(str(exc), timezone.now(), held=True)
            outcomes.extend((record, held) for record in chunk)
        except to_pinterest.TryLater as exc:
            attempts = min(chunk[0].attempts + 1, 20)
            wait = timedelta(seconds=round(backoff_seconds(attempts, exc.retry_after), 1))
            outcomes.extend((record, records.Retry(str(exc), timezone.now() + wait)) for record in chunk)
        except to_pinterest.Refused as exc:
            outcomes.extend((record, records.Error(str(exc))) for record in chunk)
        else:
            outcomes.extend((record, None) for record in chunk)
            if action == Step.Action.ADD:
                added.extend((r.external_id, t, h) for r in chunk for t, h in r.hashes.items())
            else:
                removed.extend(r.external_id for r in chunk)
    now = timezone.now()
    sent = time.monotonic()
    records.finish(owner, outcomes, now=now,
                   also=lambda: ledger.record(audience_id, added=added, removed=removed, now=now))
    logger.debug("audience %s %s: %d users, claimed and sent in %.0f ms, recorded in %.0f ms", audience_id, action,
                 len(claimed), (sent - began) * 1000, (time.monotonic() - sent) * 1000)
    return Delivered(len(claimed), held=held is not None)


def _requests(claimed: list[records.Claimed], extra: dict[str, set[str]]):
    """(users, their hashes) per request: at most SYNC_BATCH_SIZE hashes, never splitting a user.

    A remove sends every hash the ledger holds for the user too.
    """
    limit = settings.SYNC_BATCH_SIZE
    chunk: list[records.Claimed] = []
    hashes: list[str] = []
    for record in claimed:
        mine = list(record.hashes.values())
        if extra:  # only a remove sends what the ledger holds besides
            mine += sorted(extra.get(record.external_id, set()) - set(mine))
        if hashes and len(hashes) + len(mine) > limit:
            yield chunk, hashes
            chunk, hashes = [], []
        chunk.append(record)
        hashes.extend(mine[:limit])
    if chunk:
        yield chunk, hashes
