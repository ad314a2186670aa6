"""Users entering a canvas: validation and hashing, idempotency, and users leaving a delay.

The only writer of IdempotentRequest. Raw identifiers are hashed here and
dropped; only hashes go further (integrations.pinterest.identifiers).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from audiences.models import Canvas, IdempotentRequest, Step
from audiences.sending import pump
from audiences.services import delays
from audiences.services.errors import EntryRejected, IdempotencyKeyReused, NotAllowed
from audiences.services.steps import EntryResult, HashedUser, walk
from integrations.pinterest import identifiers

MAX_EXTERNAL_ID_LENGTH = 255


def hash_users(users: Iterable[dict]) -> list[HashedUser]:
    """Validate and hash a batch of users; the first bad row rejects the batch.

    Each user: {"external_id": str, "email"?, "ios_idfa"?, "android_aid"?}.
    Raw values are dropped here; only hashes leave this function.
    """
    hashed = []
    for index, user in enumerate(users):
        if not isinstance(user, dict):
            raise EntryRejected(index, "each user must be an object")
        external_id = user.get("external_id")
        if external_id is None or not str(external_id).strip():
            raise EntryRejected(index, "external_id is required")
        external_id = str(external_id).strip()
        if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
            raise EntryRejected(index, f"external_id is longer than {MAX_EXTERNAL_ID_LENGTH} characters")
        row = HashedUser(external_id)
        try:
            if user.get("email"):
                row.email_hash = identifiers.hash_email(str(user["email"]))
            if user.get("ios_idfa"):
                row.idfa_hash = identifiers.hash_idfa(str(user["ios_idfa"]))
            if user.get("android_aid"):
                row.maid_hash = identifiers.hash_android_aid(str(user["android_aid"]))
        except identifiers.InvalidIdentifier as exc:
            raise EntryRejected(index, str(exc)) from None
        hashed.append(row)
    return hashed



def users_enter(*, canvas: Canvas, users: Sequence[dict], now: datetime | None = None) -> EntryResult:
    """Users enter the canvas at its first step (all or nothing). The sender is woken when it commits."""
    result, writes = _prepare(canvas, users, now or timezone.now())
    with transaction.atomic():
        for write in writes:
            write()
    transaction.on_commit(pump.wake)
    return result


def _prepare(canvas: Canvas, users: Sequence[dict], now: datetime) -> tuple[EntryResult, list]:
    """Validate, hash and walk the users through the steps; returns the result and the writes that record it.

    Everything but the writes happens before the transaction: on SQLite a
    write transaction holds the one write lock, which the sender needs too.
    """
    if canvas.status != Canvas.Status.ACTIVE:
        raise NotAllowed("The canvas is not active: launch it before entering users.")
    hashed = hash_users(users)
    steps = list(canvas.steps.order_by("position", "id").select_related("audience"))
    result = EntryResult(entered=len(hashed))
    return result, walk(steps, 0, hashed, now, result)


def entry_fingerprint(*, canvas: Canvas, users: Sequence[dict]) -> str:
    """SHA-256 of an entry request (canvas and users, key order ignored): what a retry must repeat."""
    payload = json.dumps({"canvas": canvas.pk, "users": users}, sort_keys=True, separators=(",", ":"),
                         ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def users_enter_once(*, canvas: Canvas, users: Sequence[dict], idempotency_key: str, fingerprint: str,
                     status_code: int = 202) -> tuple[int, dict, bool]:
    """users_enter, remembered under the workspace's idempotency key.

    Returns (status_code, answer, replayed). The first call enters the users
    and stores the answer in the same transaction; a repeat with the same key
    and fingerprint enters nobody and returns the stored answer (also when
    both arrive at once: the unique key makes the second roll back). The same
    key with another fingerprint raises IdempotencyKeyReused. A refused call
    (bad row, canvas not active) stores nothing, so it can be corrected and
    sent again with the same key.
    """

    def replay(stored: IdempotentRequest) -> tuple[int, dict, bool]:
        if stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused(f"Idempotency key {idempotency_key!r} was used for a different request.")
        return stored.status_code, stored.response, True

    stored = IdempotentRequest.objects.filter(workspace_id=canvas.workspace_id, key=idempotency_key).first()
    if stored is not None:
        return replay(stored)
    result, writes = _prepare(canvas, users, timezone.now())
    answer = result.as_dict()
    try:
        with transaction.atomic():
            for write in writes:
                write()
            IdempotentRequest.objects.create(
                workspace_id=canvas.workspace_id, key=idempotency_key, fingerprint=fingerprint,
                status_code=status_code, response=answer,
            )
    except IntegrityError:
        return replay(IdempotentRequest.objects.get(workspace_id=canvas.workspace_id, key=idempotency_key))
    transaction.on_commit(pump.wake)
    return status_code, answer, False


def idempotent_requests_purge(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Forget stored answers older than `older_than` (a retry after that enters the users again)."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


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
