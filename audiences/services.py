"""The only writers of canvases, steps, audiences and sync records.

The admin, the REST API, management commands and tasks call these
functions; none of them writes the models directly. Each function states its
contract, checks its preconditions and runs atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audiences import step_counts
from audiences.models import Audience, AudienceList, Canvas, DelayRecord, Step, SyncRecord
from audiences.sending import ledger, pump, records
from integrations.models import AdAccount, PinterestConnection, Workspace
from integrations.pinterest import identifiers
from integrations.pinterest.identifiers import EMAIL, IDFA, MAID

logger = logging.getLogger(__name__)

AUDIENCE_NAME_MAX_LENGTH = 100  # what Pinterest's Ads Manager accepts for an audience name


class ServiceError(Exception):
    """A request that cannot be carried out; the message is shown to the user."""


class NotAllowed(ServiceError):
    pass


@dataclass
class LaunchRefused(ServiceError):
    problems: list[str]

    def __str__(self) -> str:
        return "; ".join(self.problems)


@dataclass
class EntryRejected(ServiceError):
    """One row of a bulk entry is invalid; nothing was stored.

    `row` counts from 0 in the call; `field` is the user's key at fault
    ("" when the row is not an object); `other_row` is the earlier row a
    conflicting duplicate clashes with.
    """

    row: int
    message: str
    field: str = ""
    other_row: int | None = None

    def __str__(self) -> str:
        return f"Row {self.row}: {self.message}"


# --- Canvases and steps ----------------------------------------------------------------


def canvas_create(*, workspace: Workspace, name: str) -> Canvas:
    if not name.strip():
        raise ServiceError("A canvas needs a name.")
    return Canvas.objects.create(workspace=workspace, name=name.strip())


def step_add_audience_sync(
    *,
    canvas: Canvas,
    ad_account: AdAccount | None = None,
    audience: Audience | None = None,
    action: str = Step.Action.ADD,
    match_email: bool = True,
    match_idfa: bool = False,
    match_android_aid: bool = False,
    name: str = "",
) -> Step:
    _check_editable(canvas)
    _check_ad_account(canvas.workspace, ad_account)
    _check_audience(canvas.workspace, ad_account, audience)
    return Step.objects.create(
        canvas=canvas,
        position=_next_position(canvas),
        kind=Step.Kind.AUDIENCE_SYNC,
        name=name,
        ad_account=ad_account,
        audience=audience,
        action=action,
        match_email=match_email,
        match_idfa=match_idfa,
        match_android_aid=match_android_aid,
    )


def step_add_delay(*, canvas: Canvas, seconds: int, name: str = "") -> Step:
    _check_editable(canvas)
    if seconds <= 0:
        raise ServiceError("A delay must be at least one second.")
    return Step.objects.create(
        canvas=canvas, position=_next_position(canvas), kind=Step.Kind.DELAY, delay_seconds=seconds, name=name
    )


def _next_position(canvas: Canvas) -> int:
    last = canvas.steps.order_by("-position").values_list("position", flat=True).first()
    return 0 if last is None else last + 1


def _check_editable(canvas: Canvas) -> None:
    if canvas.status == Canvas.Status.ACTIVE:
        raise NotAllowed("Stop the canvas before changing its steps.")


def _check_ad_account(workspace: Workspace, ad_account: AdAccount | None) -> None:
    if ad_account is None:
        return
    if ad_account.connection.workspace_id != workspace.pk:
        raise ServiceError("That ad account does not belong to this workspace.")
    if not ad_account.enabled:
        raise ServiceError(f"Ad account {ad_account} is not enabled for this workspace.")


def _check_audience(workspace: Workspace, ad_account: AdAccount | None, audience: Audience | None) -> None:
    if audience is None:
        return
    if audience.workspace_id != workspace.pk:
        raise ServiceError("That audience does not belong to this workspace.")
    if ad_account is not None and audience.ad_account_id != ad_account.pk:
        raise ServiceError("The audience belongs to another ad account than the step's.")


def canvas_launch(*, canvas: Canvas) -> Canvas:
    """Make the canvas accept users. Refused, with every problem named, when it cannot sync."""
    if canvas.status == Canvas.Status.ACTIVE:
        return canvas
    problems = launch_problems(canvas)
    if problems:
        raise LaunchRefused(problems)
    canvas.status = Canvas.Status.ACTIVE
    canvas.launched_at = timezone.now()
    canvas.save(update_fields=["status", "launched_at"])
    return canvas


def launch_problems(canvas: Canvas) -> list[str]:
    problems = []
    steps = list(canvas.steps.select_related("audience", "ad_account"))
    connection = PinterestConnection.objects.filter(workspace=canvas.workspace_id).first()
    if not steps:
        problems.append("The canvas has no steps.")
    if connection is None or not connection.is_usable:
        problems.append("The workspace has no valid Pinterest connection: connect Pinterest first.")
    for index, step in enumerate(steps, start=1):
        if step.kind != Step.Kind.AUDIENCE_SYNC:
            continue
        label = f"Step {index} ({step})"
        if step.ad_account_id is None:
            problems.append(f"{label} has no ad account.")
        elif not step.ad_account.enabled:
            problems.append(f"{label} uses ad account {step.ad_account}, which is not enabled.")
        if step.audience_id is None:
            problems.append(f"{label} has no audience.")
        if not step.match_list_types:
            problems.append(f"{label} has no match field.")
    return problems


def canvas_stop(*, canvas: Canvas) -> Canvas:
    """Stop taking users. Users already entered are still sent."""
    if canvas.status != Canvas.Status.ACTIVE:
        raise NotAllowed("Only an active canvas can be stopped.")
    canvas.status = Canvas.Status.STOPPED
    canvas.stopped_at = timezone.now()
    canvas.save(update_fields=["status", "stopped_at"])
    return canvas


# --- Audiences -------------------------------------------------------------------------------


def audience_create_draft(*, workspace: Workspace, ad_account: AdAccount, name: str) -> Audience:
    """Reserve a new audience name at once; Pinterest objects follow with the first batch."""
    name = (name or "").strip()
    _check_ad_account(workspace, ad_account)
    if not name:
        raise ServiceError("The audience needs a name.")
    if len(name) > AUDIENCE_NAME_MAX_LENGTH:
        raise ServiceError(f"Audience names are at most {AUDIENCE_NAME_MAX_LENGTH} characters.")
    if Audience.objects.filter(ad_account=ad_account, name__iexact=name).exists():
        raise ServiceError(f"An audience named “{name}” already exists in this ad account.")
    return Audience.objects.create(workspace=workspace, ad_account=ad_account, name=name)


def audience_use_existing(*, workspace: Workspace, ad_account: AdAccount, pinterest_audience_id: str) -> Audience:
    """Use an audience that exists on Pinterest, through its rule.customer_list_id."""
    from integrations.services import with_pinterest

    _check_ad_account(workspace, ad_account)
    found = Audience.objects.filter(ad_account=ad_account, pinterest_audience_id=pinterest_audience_id).first()
    if found:
        return found
    connection = ad_account.connection

    def read(client):
        remote = client.audience_get(ad_account.pinterest_id, pinterest_audience_id)
        customer_list = None
        if remote.customer_list_id:
            customer_list = client.customer_list_get(ad_account.pinterest_id, remote.customer_list_id)
        return remote, customer_list

    remote, customer_list = with_pinterest(connection, read)
    if remote.audience_type != "CUSTOMER_LIST" or customer_list is None:
        raise ServiceError("Only customer-list audiences can be synced; pick another audience or create a new one.")
    with transaction.atomic():
        audience = Audience.objects.create(
            workspace=workspace,
            ad_account=ad_account,
            name=remote.name,
            source=Audience.Source.EXISTING,
            status=Audience.Status.READY if remote.status == "READY" else Audience.Status.WAITING_FOR_LIST,
            pinterest_audience_id=remote.id,
            pinterest_status=remote.status,
            pinterest_size=remote.size,
        )
        AudienceList.objects.create(
            audience=audience,
            list_type=customer_list_type(customer_list),
            pinterest_customer_list_id=customer_list.id,
            pinterest_status=customer_list.status,
        )
    return audience


def customer_list_type(customer_list) -> str:
    # The v5 CustomerList object does not echo list_type; lists made outside
    # this service are taken as EMAIL lists, Pinterest's default type.
    return getattr(customer_list, "list_type", "") or EMAIL


# --- Entering users ----------------------------------------------------------------------------


@dataclass
class HashedUser:
    external_id: str
    email_hash: str = ""
    idfa_hash: str = ""
    maid_hash: str = ""

    def for_types(self, types: Sequence[str]) -> HashedUser:
        """Only the identifiers the step matches on."""
        return HashedUser(
            self.external_id,
            self.email_hash if EMAIL in types else "",
            self.idfa_hash if IDFA in types else "",
            self.maid_hash if MAID in types else "",
        )

    @property
    def has_any(self) -> bool:
        return bool(self.email_hash or self.idfa_hash or self.maid_hash)

    @property
    def identifiers(self) -> set[tuple[str, str]]:
        """(list type, hash) of each identifier the user has."""
        return {(t, h) for t, h in ((EMAIL, self.email_hash), (IDFA, self.idfa_hash), (MAID, self.maid_hash)) if h}


@dataclass
class EntryResult:
    entered: int = 0
    pending: int = 0
    not_synced: int = 0
    already_in_audience: int = 0
    waiting: int = 0
    exited: int = 0

    def as_dict(self) -> dict:
        return {
            "entered": self.entered,
            "pending": self.pending,
            "not_synced": self.not_synced,
            "already_in_audience": self.already_in_audience,
            "waiting_in_delay": self.waiting,
            "exited": self.exited,
        }


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
    if not isinstance(user, dict):
        raise EntryRejected(row, "each user must be an object with external_id and identifiers")
    if type(user) is ValidUser:
        return user
    unknown = user.keys() - _USER_FIELDS
    if unknown:
        raise EntryRejected(row, "unknown field: users have external_id, email, ios_idfa, android_aid",
                            field=min(str(key) for key in unknown))
    external_id = user.get("external_id")
    if not isinstance(external_id, str) or not external_id.strip():
        raise EntryRejected(row, "external_id is required: a non-empty string", field="external_id")
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise EntryRejected(row, f"external_id is longer than {MAX_EXTERNAL_ID_LENGTH} characters",
                            field="external_id")
    if not identifiers.is_plain_text(external_id):
        raise EntryRejected(row, "external_id cannot hold control characters or lone surrogates",
                            field="external_id")
    clean = ValidUser(external_id=external_id.strip())
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
    kept: list[dict] = []
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


def users_validate(users: Iterable[object]) -> CheckedUsers:
    """user_validate for every row (the first bad one refuses the call), then users_fold."""
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
    hashed = HashedUsers(
        HashedUser(
            user["external_id"],
            digest(user["email"]) if "email" in user else "",
            digest(user["ios_idfa"]) if "ios_idfa" in user else "",
            digest(user["android_aid"]) if "android_aid" in user else "",
        )
        for user in checked.users
    )
    hashed.duplicates_folded = checked.duplicates_folded
    return hashed


def users_enter(
    *,
    canvas: Canvas,
    users: Sequence[dict],
    now: datetime | None = None,
    also: Callable[[EntryResult], None] | None = None,
) -> EntryResult:
    """Users enter the canvas at its first step (all or nothing).

    Audience Sync steps never hold a user: the sync is recorded and the user
    goes straight on to the next step; a Delay step holds them until their
    wake time. `also` runs in the same transaction, after the writes. The
    sender is woken when the transaction commits.
    """
    if canvas.status != Canvas.Status.ACTIVE:
        raise NotAllowed("The canvas is not active: launch it before entering users.")
    hashed = hash_users(users)
    now = now or timezone.now()
    steps = list(canvas.steps.order_by("position", "id").select_related("audience"))
    result = EntryResult(entered=len(hashed))
    # Everything but the INSERTs is worked out before the transaction: on
    # SQLite a write transaction holds the one write lock, which the sender
    # needs too, so it is held only while rows are written.
    writes = _walk(steps, 0, hashed, now, result)
    with transaction.atomic():
        for write in writes:
            write()
        if also is not None:
            also(result)
    transaction.on_commit(pump.wake)
    return result


def _walk(
    steps: list[Step], start: int, users: list[HashedUser], now: datetime, result: EntryResult
) -> list[Callable[[], None]]:
    """Move users through steps from `start` until a delay holds them or they exit.

    Counts into `result` and returns the writes that record it, to be run
    in one transaction.
    """
    writes: list[Callable[[], None]] = []
    index = start
    while index < len(steps) and users:
        step = steps[index]
        if step.kind == Step.Kind.DELAY:
            waiting = [
                DelayRecord(
                    step=step,
                    external_id=u.external_id,
                    email_hash=u.email_hash,
                    idfa_hash=u.idfa_hash,
                    maid_hash=u.maid_hash,
                    entered_at=now,
                    wake_at=now + timedelta(seconds=step.delay_seconds),
                )
                for u in users
            ]
            writes.append(lambda waiting=waiting, step=step: _delay_records_insert(step, waiting))
            result.waiting += len(users)
            return writes
        writes.append(_record_sync(step, users, now, result))
        index += 1
    result.exited += len(users)
    return writes


def _delay_records_insert(step: Step, waiting: list[DelayRecord]) -> None:
    DelayRecord.objects.bulk_create(waiting, batch_size=500)
    step_counts.add({(step.pk, DelayRecord.State.WAITING): len(waiting)})


def _record_sync(step: Step, users: list[HashedUser], now: datetime, result: EntryResult) -> Callable[[], None]:
    types = step.match_list_types
    matched = [u.for_types(types) for u in users]
    already_in: set[str] = set()
    if step.action == Step.Action.ADD and step.audience_id:
        already_in = ledger.members_with(step.audience_id, {u.external_id: u.identifiers for u in matched if u.has_any})
    rows = []
    for user in matched:
        if not user.has_any:
            state = SyncRecord.State.NOT_SYNCED
            result.not_synced += 1
        elif user.external_id in already_in:
            state = SyncRecord.State.SYNCED
            result.already_in_audience += 1
        else:
            state = SyncRecord.State.PENDING
            result.pending += 1
        rows.append(records.row(step_id=step.pk, audience_id=step.audience_id, action=step.action,
                                external_id=user.external_id, hashes=(user.email_hash, user.idfa_hash, user.maid_hash),
                                state=state, now=now))
    return lambda: records.insert(rows, now=now)


def delays_advance(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Move users whose delay has passed on to the next step (a schedule calls this)."""
    now = now or timezone.now()
    moved = 0
    due_steps = (
        DelayRecord.objects.filter(state=DelayRecord.State.WAITING, wake_at__lte=now, step__canvas__status=Canvas.Status.ACTIVE)
        .values_list("step_id", flat=True)
        .distinct()
    )
    for step_id in list(due_steps):
        step = Step.objects.select_related("canvas").get(pk=step_id)
        steps = list(step.canvas.steps.order_by("position", "id").select_related("audience"))
        index = next(i for i, s in enumerate(steps) if s.pk == step.pk)
        with transaction.atomic():
            ids = list(
                DelayRecord.objects.filter(step=step, state=DelayRecord.State.WAITING, wake_at__lte=now)
                .values_list("pk", flat=True)[:limit]
            )
            rows = list(DelayRecord.objects.filter(pk__in=ids, state=DelayRecord.State.WAITING))
            last = index == len(steps) - 1
            new_state = DelayRecord.State.EXITED if last else DelayRecord.State.PROCEEDED
            # Conditional update: a second sweeper running at once moves nobody twice.
            updated = DelayRecord.objects.filter(pk__in=[r.pk for r in rows], state=DelayRecord.State.WAITING).update(
                state=new_state, left_at=now
            )
            if updated != len(rows):
                transaction.set_rollback(True)
                continue
            step_counts.add({(step.pk, DelayRecord.State.WAITING): -updated, (step.pk, new_state): updated})
            users = [HashedUser(r.external_id, r.email_hash, r.idfa_hash, r.maid_hash) for r in rows]
            result = EntryResult()
            for write in _walk(steps, index + 1, users, now, result):
                write()
            transaction.on_commit(pump.wake)
            moved += len(rows)
    return moved


# --- Retrying -------------------------------------------------------------------------------------


def records_retry_errored(*, step: Step) -> int:
    """Give a step's errored users another 13-hour window, sending them at once."""
    count = records.retry_errored(step_id=step.pk, now=timezone.now())
    if count:
        transaction.on_commit(pump.wake)
    return count


def records_error_expired(*, now: datetime | None = None) -> int:
    """Users not sent within the retry window (13 h after entering) become errored."""
    errored = records.error_expired(
        now=now or timezone.now(), retry_window=timedelta(hours=settings.SYNC_RETRY_WINDOW_HOURS)
    )
    if errored:
        logger.info("%d users errored after the retry window", errored)
    return errored


# --- For the REST API and the staff commands --------------------------------------------------
# Composite operations the partner API and the commands need, built on the
# functions above: API names of match fields, editing and deleting canvases
# and steps, resolving a step's audience, and entering users once per
# Idempotency-Key.

# API name of a match field -> Step boolean field.
MATCH_FIELDS = {"email": "match_email", "ios_idfa": "match_idfa", "android_aid": "match_android_aid"}


class IdempotencyKeyReused(ServiceError):
    """The key was already used for a different request."""


@dataclass(frozen=True)
class AudienceChoice:
    """Which audience a step syncs: exactly one of the three is set.

    pinterest_audience_id: an existing audience on Pinterest (read and remembered);
    new_name: a new audience, reserved now and created on Pinterest with the first users;
    audience_id: an audience this workspace already uses (e.g. the add step's, for a remove step).
    """

    pinterest_audience_id: str = ""
    new_name: str = ""
    audience_id: int | None = None


_UNCHANGED = object()


def step_match_fields(step: Step) -> list[str]:
    return [name for name, attr in MATCH_FIELDS.items() if getattr(step, attr)]


def _match_flags(match_fields: Sequence[str]) -> dict[str, bool]:
    unknown = set(match_fields) - set(MATCH_FIELDS)
    if unknown:
        raise ServiceError(f"Unknown match field {', '.join(sorted(unknown))}: use {', '.join(MATCH_FIELDS)}.")
    return {attr: name in match_fields for name, attr in MATCH_FIELDS.items()}


def canvas_update(*, canvas: Canvas, name: str) -> Canvas:
    """Rename a canvas (allowed in every state: the name is only a label)."""
    if not name.strip():
        raise ServiceError("A canvas needs a name.")
    canvas.name = name.strip()
    canvas.save(update_fields=["name"])
    return canvas


def canvas_delete(*, canvas: Canvas) -> None:
    """Delete a canvas that is not active and has no user still waiting to be sent.

    Audiences and their members on Pinterest stay as they are.
    """
    if canvas.status == Canvas.Status.ACTIVE:
        raise NotAllowed("Stop the canvas before deleting it.")
    pending = step_counts.total(state=SyncRecord.State.PENDING, canvas_id=canvas.pk)
    if pending:
        raise NotAllowed(f"{pending} users of this canvas are still pending; delete it once they are sent.")
    canvas.delete()


def audience_resolve(*, workspace: Workspace, ad_account: AdAccount | None, choice: AudienceChoice) -> Audience:
    """The audience a choice names. An existing Pinterest audience is read from Pinterest (call outside a transaction)."""
    if choice.audience_id is not None:
        audience = Audience.objects.filter(workspace=workspace, pk=choice.audience_id).first()
        if audience is None:
            raise ServiceError(f"No audience {choice.audience_id} in this workspace.")
        return audience
    if ad_account is None:
        raise ServiceError("Choose the step's ad account before its audience.")
    if choice.new_name:
        return audience_create_draft(workspace=workspace, ad_account=ad_account, name=choice.new_name)
    from integrations.pinterest.client import NotFound

    try:
        return audience_use_existing(
            workspace=workspace, ad_account=ad_account, pinterest_audience_id=choice.pinterest_audience_id
        )
    except NotFound:
        raise ServiceError(
            f"Ad account {ad_account.pinterest_id} has no audience {choice.pinterest_audience_id} on Pinterest."
        ) from None


def _resolve_for_step(workspace: Workspace, ad_account: AdAccount | None, choice: AudienceChoice | None,
                      prefetched: Audience | None) -> Audience | None:
    if choice is None:
        return None
    return prefetched or audience_resolve(workspace=workspace, ad_account=ad_account, choice=choice)


def _prefetch_existing(workspace: Workspace, ad_account: AdAccount | None, choice) -> Audience | None:
    # Reading an existing audience calls Pinterest: do it before the transaction,
    # so no database lock is held while waiting for the network.
    if isinstance(choice, AudienceChoice) and choice.pinterest_audience_id:
        return audience_resolve(workspace=workspace, ad_account=ad_account, choice=choice)
    return None


def step_create_audience_sync(
    *,
    canvas: Canvas,
    ad_account: AdAccount | None = None,
    audience: AudienceChoice | None = None,
    action: str = Step.Action.ADD,
    match_fields: Sequence[str] = ("email",),
    name: str = "",
) -> Step:
    """An Audience Sync step whose audience may be new: the new audience and the step are created together."""
    _check_editable(canvas)
    _check_ad_account(canvas.workspace, ad_account)
    flags = _match_flags(match_fields)
    prefetched = _prefetch_existing(canvas.workspace, ad_account, audience)
    with transaction.atomic():
        resolved = _resolve_for_step(canvas.workspace, ad_account, audience, prefetched)
        return step_add_audience_sync(
            canvas=canvas, ad_account=ad_account, audience=resolved, action=action, name=name, **flags
        )


def step_update(
    *,
    step: Step,
    name=_UNCHANGED,
    ad_account=_UNCHANGED,
    audience=_UNCHANGED,
    action=_UNCHANGED,
    match_fields=_UNCHANGED,
    delay_seconds=_UNCHANGED,
) -> Step:
    """Change a step of a canvas that is not active. Arguments left out keep their value.

    `audience` is an AudienceChoice (or None to clear it); changing the ad
    account needs an audience of the new ad account too.
    """
    canvas = step.canvas
    _check_editable(canvas)
    is_sync = step.kind == Step.Kind.AUDIENCE_SYNC
    sync_changes = [v is not _UNCHANGED for v in (ad_account, audience, action, match_fields)]
    if not is_sync and any(sync_changes):
        raise ServiceError("A delay step has no ad account, audience, action or match fields.")
    if is_sync and delay_seconds is not _UNCHANGED:
        raise ServiceError("Only delay steps have a delay.")
    if delay_seconds is not _UNCHANGED and delay_seconds <= 0:
        raise ServiceError("A delay must be at least one second.")
    new_ad_account = step.ad_account if ad_account is _UNCHANGED else ad_account
    if ad_account is not _UNCHANGED:
        _check_ad_account(canvas.workspace, new_ad_account)
    prefetched = None if audience is _UNCHANGED else _prefetch_existing(canvas.workspace, new_ad_account, audience)
    with transaction.atomic():
        if audience is not _UNCHANGED:
            step.audience = _resolve_for_step(canvas.workspace, new_ad_account, audience, prefetched)
        step.ad_account = new_ad_account
        if is_sync:
            _check_audience(canvas.workspace, step.ad_account, step.audience)
        if name is not _UNCHANGED:
            step.name = name
        if action is not _UNCHANGED:
            step.action = action
        if match_fields is not _UNCHANGED:
            for attr, value in _match_flags(match_fields).items():
                setattr(step, attr, value)
        if delay_seconds is not _UNCHANGED:
            step.delay_seconds = delay_seconds
        step.save()
    return step


def step_delete(*, step: Step) -> None:
    """Delete a step of a canvas that is not active, unless users in it are still waiting to be sent."""
    _check_editable(step.canvas)
    pending = step_counts.total(state=SyncRecord.State.PENDING, step_id=step.pk)
    if pending:
        raise NotAllowed(f"{pending} users of this step are still pending; delete it once they are sent.")
    step.delete()


def entry_fingerprint(*, canvas: Canvas, users: Sequence[dict]) -> str:
    """SHA-256 of an entry request (canvas and users, key order ignored): what a retry must repeat."""
    import hashlib
    import json

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
    from django.db import IntegrityError

    from audiences.models import IdempotentRequest

    def replay(stored: IdempotentRequest) -> tuple[int, dict, bool]:
        if stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused(f"Idempotency key {idempotency_key!r} was used for a different request.")
        return stored.status_code, stored.response, True

    stored = IdempotentRequest.objects.filter(workspace_id=canvas.workspace_id, key=idempotency_key).first()
    if stored is not None:
        return replay(stored)
    def remember(result: EntryResult) -> None:
        IdempotentRequest.objects.create(
            workspace_id=canvas.workspace_id, key=idempotency_key, fingerprint=fingerprint,
            status_code=status_code, response=result.as_dict(),
        )

    try:
        answer = users_enter(canvas=canvas, users=users, also=remember).as_dict()
    except IntegrityError:
        return replay(IdempotentRequest.objects.get(workspace_id=canvas.workspace_id, key=idempotency_key))
    return status_code, answer, False


def idempotent_requests_purge(*, older_than: timedelta = timedelta(days=1)) -> int:
    """Forget stored answers older than `older_than` (a retry after that enters the users again)."""
    from audiences.models import IdempotentRequest

    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


# --- For the admin's step pages --------------------------------------------------------------
# Actalike audiences: Pinterest builds them from a READY seed audience
# (https://developers.pinterest.com/docs/api/v5/audiences-create, rule.seed_id,
# rule.country, rule.percentage 1-10). They live on Pinterest only.

ACTALIKE_COUNTRIES = ("US", "CA", "GB")


def audience_create_actalike(*, audience: Audience, country: str, percentage: int, name: str = ""):
    """Create an Actalike audience on Pinterest seeded by `audience`; returns Pinterest's audience.

    The seed must be READY on Pinterest. Nothing is stored here: the new
    audience is for ads targeting, not for syncing.
    """
    from integrations.services import with_pinterest

    if audience.status != Audience.Status.READY or not audience.pinterest_audience_id:
        raise ServiceError("An Actalike audience needs a seed audience that is ready on Pinterest.")
    if country not in ACTALIKE_COUNTRIES:
        raise ServiceError(f"Choose one of {', '.join(ACTALIKE_COUNTRIES)} as the country.")
    if not isinstance(percentage, int) or not 1 <= percentage <= 10:
        raise ServiceError("The percentage must be a whole number from 1 to 10.")
    name = (name or "").strip() or f"{audience.name} Actalike {country} {percentage}%"
    if len(name) > AUDIENCE_NAME_MAX_LENGTH:
        raise ServiceError(f"Audience names are at most {AUDIENCE_NAME_MAX_LENGTH} characters.")
    ad_account = audience.ad_account
    return with_pinterest(
        ad_account.connection,
        lambda client: client.audience_create_actalike(
            ad_account.pinterest_id,
            name=name,
            seed_audience_id=audience.pinterest_audience_id,
            country=country,
            percentage=percentage,
        ),
    )


def step_rename(*, step: Step, name: str) -> Step:
    """Rename a step in any canvas state: the name is only a label, so an active canvas may change it."""
    step.name = (name or "").strip()[:200]
    step.save(update_fields=["name"])
    return step
