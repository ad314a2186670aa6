"""Users entering a canvas: validation and hashing, and idempotency (users leaving a delay: delay_steps).

The only writer of IdempotentRequest. Raw identifiers are hashed here and
dropped; only hashes go further (integrations.pinterest.identifiers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from django.db import IntegrityError, transaction
from django.utils import timezone

from audiences.models import Canvas, IdempotentRequest, Step
from audiences.sending import pump
from audiences.services.errors import EntryRejected, IdempotencyKeyReused, NotAllowed
from audiences.services.steps import EntryResult, HashedUser, walk
from integrations.pinterest import identifiers
from project import db

MAX_EXTERNAL_ID_LENGTH = 255
IDENTIFIER_MAX_LENGTH = 512  # any identifier field, before normalising (an email is then at most 254)
USER_FIELDS = ("external_id", "email", "ios_idfa", "android_aid")
_USER_FIELDS = frozenset(USER_FIELDS)
_NORMALISERS = {
    "email": identifiers.normalise_email,
    "ios_idfa": identifiers.normalise_idfa,
    "android_aid": identifiers.normalise_android_aid,
}


class ValidUser(dict):
    """A user as user_validate answers it; given to user_validate again, it is taken as it is."""


def user_validate(user: object, *, row: int = 0) -> dict:
    """One user of an entry, checked: the one rule the API, enter_users and every other caller share.

    A user is an object with `external_id` (a string of 1 to 255 characters,
    not blank, without control characters or lone surrogates) and any of
    `email`, `ios_idfa`, `android_aid` (each a string of at most 512
    characters that identifiers.py can normalise; null or "" means absent).
    Any other key is refused. Returns the user with external_id trimmed and
    each identifier normalised; raises EntryRejected(row, message, field).
    """
    # Written for speed as well as clarity: it runs for each of 10,000 users of a call.
    if type(user) is ValidUser:
        return user
    if not isinstance(user, dict):
        raise EntryRejected(row, "each user must be an object with external_id and identifiers")
    if not _USER_FIELDS.issuperset(user):
        raise EntryRejected(row, "unknown field: users have external_id, email, ios_idfa, android_aid",
                            field=min(str(key) for key in user.keys() - _USER_FIELDS))
    external_id = user.get("external_id")
    trimmed = external_id.strip() if isinstance(external_id, str) else ""
    if not trimmed:
        raise EntryRejected(row, "external_id is required: a non-empty string", field="external_id")
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise EntryRejected(row, f"external_id is longer than {MAX_EXTERNAL_ID_LENGTH} characters",
                            field="external_id")
    if not identifiers.is_plain_text(external_id):
        raise EntryRejected(row, "external_id cannot hold control characters or lone surrogates",
                            field="external_id")
    clean = ValidUser(external_id=trimmed)
    if len(user) == 1:
        return clean
    for name, normalise in _NORMALISERS.items():
        value = user.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise EntryRejected(row, f"{name} must be a string", field=name)
        if len(value) > IDENTIFIER_MAX_LENGTH:
            raise EntryRejected(row, f"{name} is longer than {IDENTIFIER_MAX_LENGTH} characters", field=name)
        try:
            clean[name] = normalise(value)
        except identifiers.InvalidIdentifier as exc:
            raise EntryRejected(row, str(exc), field=name) from None
    return clean


@dataclass
class CheckedUsers:
    users: list[dict]
    duplicates_folded: int = 0


def users_fold(users: Sequence[dict]) -> CheckedUsers:
    """A user is entered once per call: later rows with an external_id already seen are folded into the first.

    `users` are user_validate's answers. A later row identical to the first
    (the same normalised identifiers) is dropped and counted in
    `duplicates_folded`; one with other identifiers refuses the call
    (EntryRejected naming it, with the first as `other_row`).
    """
    kept: list[dict] = FoldedUsers()
    first: dict[str, int] = {}  # external_id -> its row in `users`
    position: dict[str, int] = {}  # external_id -> its place in `kept`
    for index, user in enumerate(users):
        external_id = user["external_id"]
        seen = position.get(external_id)
        if seen is None:
            position[external_id] = len(kept)
            first[external_id] = index
            kept.append(user)
        elif kept[seen] != user:
            raise EntryRejected(
                index,
                f"same external_id as row {first[external_id]}, with other identifiers: a user is entered once "
                f"per call, so send one row per user",
                field="external_id",
                other_row=first[external_id],
            )
    return CheckedUsers(kept, len(users) - len(kept))


class FoldedUsers(list):
    """users_fold's answer: checked and folded already, so hash_users need not do it again."""


def users_validate(users: Iterable[object]) -> CheckedUsers:
    """user_validate for every row (the first bad one refuses the call), then users_fold."""
    if type(users) is FoldedUsers and all(type(user) is ValidUser for user in users):
        return CheckedUsers(users)  # the API's serializer checked and folded them
    return users_fold([user_validate(user, row=index) for index, user in enumerate(users)])


class HashedUsers(list):
    """hash_users' answer: HashedUser rows, and how many duplicate rows were folded into earlier ones."""

    duplicates_folded: int = 0


def hash_users(users: Iterable[dict]) -> HashedUsers:
    """Validate, fold and hash a batch of users; the first bad row rejects the batch.

    Each user: {"external_id": str, "email"?, "ios_idfa"?, "android_aid"?},
    checked by user_validate and folded by users_fold (a user once per call).
    Raw values are dropped here; only hashes leave this function.
    """
    checked = users_validate(users)
    digest = identifiers.hash_normalised
    get = dict.get
    hashed = HashedUsers(
        HashedUser(
            user["external_id"],
            digest(email) if (email := get(user, "email")) else "",
            digest(idfa) if (idfa := get(user, "ios_idfa")) else "",
            digest(aid) if (aid := get(user, "android_aid")) else "",
        )
        for user in checked.users
    )
    hashed.duplicates_folded = checked.duplicates_folded
    return hashed


def canvas_for_entry(*, workspace_id: int, canvas_id: int) -> Canvas | None:
    """The workspace's canvas with its steps in order (`ordered_steps`), or None: what an entry call walks.

    Two raw statements (project.db): every entry call reads these, and
    compiling the same ORM queries each time cost more than the rest of a
    small call.
    """
    canvas = db.instance(Canvas, "id = %s AND workspace_id = %s", [canvas_id, workspace_id])
    if canvas is None:
        return None
    canvas.ordered_steps = db.instances(Step, "canvas_id = %s", [canvas_id], order_by="position, id")
    for step in canvas.ordered_steps:
        step.canvas = canvas
    return canvas


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
    # The API read the canvas with its steps in this order already (canvas_for_entry).
    steps = getattr(canvas, "ordered_steps", None)
    if steps is None:
        steps = list(canvas.steps.order_by("position", "id").select_related("audience"))
    result = EntryResult(entered=len(hashed), duplicates_folded=hashed.duplicates_folded)
    return result, walk(steps, 0, hashed, now, result)


def entry_fingerprint(*, canvas: Canvas, users: Sequence[dict]) -> str:
    """SHA-256 of an entry request (canvas and users, key order ignored): what a retry must repeat."""
    # Keys sorted, no spaces, UTF-8 unescaped: the bytes json.dumps(sort_keys=True, separators=(",", ":"),
    # ensure_ascii=False) gives for checked users (strings without control characters), in a tenth of its time.
    payload = orjson.dumps({"canvas": canvas.pk, "users": users}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


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
