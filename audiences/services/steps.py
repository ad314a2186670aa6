"""Steps: the only writer of Step, and every rule that depends on a step's kind.

A step kind decides what a step needs before launch, which fields it has,
and what happens to the users who reach it (`walk`): an Audience Sync step
records each user's sync and lets them go straight on; a Delay step holds
them until their wake time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from django.db import transaction

from audiences.models import Audience, Canvas, Step, SyncRecord
from audiences.sending import ledger, records
from audiences.services import delays
from audiences.services.audiences import AudienceChoice, audience_resolve, check_ad_account, prefetch_existing
from audiences.services.audit import audit_record
from audiences.services.errors import NotAllowed, ServiceError
from audiences.services.suppression_check import suppressed_among
from audiences import step_counts
from integrations.models import AdAccount, Workspace
from integrations.pinterest.identifiers import EMAIL, IDFA, MAID

# API name of a match field -> Step boolean field.
MATCH_FIELDS = {"email": "match_email", "ios_idfa": "match_idfa", "android_aid": "match_android_aid"}

_UNCHANGED = object()


def step_match_fields(step: Step) -> list[str]:
    return [name for name, attr in MATCH_FIELDS.items() if getattr(step, attr)]


def _match_flags(match_fields: Sequence[str]) -> dict[str, bool]:
    unknown = set(match_fields) - set(MATCH_FIELDS)
    if unknown:
        raise ServiceError(f"Unknown match field {', '.join(sorted(unknown))}: use {', '.join(MATCH_FIELDS)}.")
    return {attr: name in match_fields for name, attr in MATCH_FIELDS.items()}


def _next_position(canvas: Canvas) -> int:
    last = canvas.steps.order_by("-position").values_list("position", flat=True).first()
    return 0 if last is None else last + 1


def _check_editable(canvas: Canvas) -> None:
    if canvas.status == Canvas.Status.ACTIVE:
        raise NotAllowed("Stop the canvas before changing its steps.")


# Why a live step keeps each of these: what would happen to users already on their way.
LIVE_REFUSALS = {
    "ad_account": "A live step keeps its ad account: its users are in an audience of this one. "
                  "Stop the canvas to change it.",
    "audience": "A live step keeps its audience: users already sent would stay in it while new users went to the "
                "other. Stop the canvas to change it, or add a step.",
    "action": "A live step keeps its action: users on their way would be sent the opposite of what they entered "
              "for. Stop the canvas to change it.",
}


def _check_live_change(step: Step, *, ad_account, audience, action) -> None:
    """Refuse, with its reason, the first change a live canvas's step cannot take. Unchanged values pass."""
    if ad_account is not _UNCHANGED and ad_account != step.ad_account:
        raise NotAllowed(LIVE_REFUSALS["ad_account"])
    if audience is not _UNCHANGED and not (
            (audience is None and step.audience_id is None)
            or (audience is not None and audience.audience_id is not None and audience.audience_id == step.audience_id)):
        raise NotAllowed(LIVE_REFUSALS["audience"])
    if action is not _UNCHANGED and action != step.action:
        raise NotAllowed(LIVE_REFUSALS["action"])


def _check_audience(workspace: Workspace, ad_account: AdAccount | None, audience: Audience | None) -> None:
    if audience is None:
        return
    if audience.workspace_id != workspace.pk:
        raise ServiceError("That audience does not belong to this workspace.")
    if ad_account is not None and audience.ad_account_id != ad_account.pk:
        raise ServiceError("The audience belongs to another ad account than the step's.")


# --- Writing steps ----------------------------------------------------------------------------


def step_create_audience_sync(
    *,
    canvas: Canvas,
    ad_account: AdAccount | None = None,
    audience: Audience | AudienceChoice | None = None,
    action: str = Step.Action.ADD,
    match_fields: Sequence[str] = ("email",),
    name: str = "",
) -> Step:
    """An Audience Sync step at the end of a canvas that is not active.

    `audience` is an audience of this workspace, or a choice: an existing
    Pinterest audience (read from Pinterest first), or a new name (reserved
    with the step, in one transaction).
    """
    _check_editable(canvas)
    check_ad_account(canvas.workspace, ad_account)
    flags = _match_flags(match_fields)
    prefetched = prefetch_existing(canvas.workspace, ad_account, audience)
    with transaction.atomic():
        if isinstance(audience, AudienceChoice):
            audience = prefetched or audience_resolve(workspace=canvas.workspace, ad_account=ad_account, choice=audience)
        _check_audience(canvas.workspace, ad_account, audience)
        step = Step.objects.create(
            canvas=canvas, position=_next_position(canvas), kind=Step.Kind.AUDIENCE_SYNC, name=name,
            ad_account=ad_account, audience=audience, action=action, **flags,
        )
        _audit_step(step, "step.create")
    return step


def _audit_step(step: Step, action: str) -> None:
    audit_record(workspace=step.canvas.workspace_id, action=action, target=f"{step.canvas} / {step}",
                 details={"step": step.pk, "canvas": step.canvas_id, "kind": step.kind})


def step_create_delay(*, canvas: Canvas, seconds: int, name: str = "") -> Step:
    _check_editable(canvas)
    if seconds <= 0:
        raise ServiceError("A delay must be at least one second.")
    with transaction.atomic():
        step = Step.objects.create(
            canvas=canvas, position=_next_position(canvas), kind=Step.Kind.DELAY, delay_seconds=seconds, name=name
        )
        _audit_step(step, "step.create")
    return step


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
    """Change a step. Arguments left out keep their value.

    On a live canvas the name, a sync step's match fields and a delay
    step's delay change at once: they apply to users who reach the step
    from then on (users already waiting in a delay keep the time they were
    given). The ad account, the audience and the action need the canvas
    stopped, and say why. `audience` is an AudienceChoice (or None to
    clear it); changing the ad account needs an audience of the new ad
    account too.
    """
    canvas = step.canvas
    changes = {"ad_account": ad_account, "audience": audience, "action": action, "match_fields": match_fields,
               "delay_seconds": delay_seconds}
    if canvas.status == Canvas.Status.ACTIVE:
        _check_live_change(step, ad_account=ad_account, audience=audience, action=action)
    is_sync = step.kind == Step.Kind.AUDIENCE_SYNC
    if not is_sync and any(v is not _UNCHANGED for v in (ad_account, audience, action, match_fields)):
        raise ServiceError("A delay step has no ad account, audience, action or match fields.")
    if is_sync and delay_seconds is not _UNCHANGED:
        raise ServiceError("Only delay steps have a delay.")
    if delay_seconds is not _UNCHANGED and delay_seconds <= 0:
        raise ServiceError("A delay must be at least one second.")
    new_ad_account = step.ad_account if ad_account is _UNCHANGED else ad_account
    if ad_account is not _UNCHANGED:
        check_ad_account(canvas.workspace, new_ad_account)
    prefetched = None if audience is _UNCHANGED else prefetch_existing(canvas.workspace, new_ad_account, audience)
    with transaction.atomic():
        if audience is not _UNCHANGED:
            step.audience = prefetched or (
                audience_resolve(workspace=canvas.workspace, ad_account=new_ad_account, choice=audience)
                if audience is not None else None
            )
        step.ad_account = new_ad_account
        if is_sync:
            _check_audience(canvas.workspace, step.ad_account, step.audience)
        if name is not _UNCHANGED:
            step.name = (name or "").strip()[:200]
        if action is not _UNCHANGED:
            step.action = action
        if match_fields is not _UNCHANGED:
            for attr, value in _match_flags(match_fields).items():
                setattr(step, attr, value)
        if delay_seconds is not _UNCHANGED:
            step.delay_seconds = delay_seconds
        step.save()
        changed = sorted(k for k, v in {**changes, "name": name}.items() if v is not _UNCHANGED)
        audit_record(workspace=canvas.workspace_id, action="step.update", target=f"{canvas} / {step}",
                     details={"step": step.pk, "changed": changed})
    return step


def step_delete(*, step: Step) -> None:
    """Delete a step of a canvas that is not active, unless users in it are still waiting to be sent."""
    _check_editable(step.canvas)
    pending = step_counts.total(state=SyncRecord.State.PENDING, step_id=step.pk)
    if pending:
        raise NotAllowed(f"{pending} users of this step are still pending; delete it once they are sent.")
    with transaction.atomic():
        _audit_step(step, "step.delete")
        step.delete()


def step_launch_problems(step: Step, *, label: str) -> list[str]:
    """What keeps this step from running, one sentence each."""
    if step.kind != Step.Kind.AUDIENCE_SYNC:
        return []
    problems = []
    if step.ad_account_id is None:
        problems.append(f"{label} has no ad account.")
    elif not step.ad_account.available:
        problems.append(
            f"{label} uses ad account {step.ad_account}, which the connected Pinterest user cannot see. "
            "Reconnect Pinterest as a user who can, or choose another ad account and audience in the step."
        )
    elif not step.ad_account.enabled:
        problems.append(f"{label} uses ad account {step.ad_account}, which is not enabled.")
    if step.audience_id is None:
        problems.append(f"{label} has no audience.")
    if not step.match_list_types:
        problems.append(f"{label} has no match field.")
    return problems


# --- Users moving through steps ---------------------------------------------------------------------


_HASH_FIELDS = ((EMAIL, "email_hash"), (IDFA, "idfa_hash"), (MAID, "maid_hash"))


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
    duplicates_folded: int = 0  # rows repeating a user already in the call
    suppressed: int = 0  # of the not synced, those on the suppression list (not in the API's answer)

    def as_dict(self) -> dict:
        return {
            "entered": self.entered,
            "pending": self.pending,
            "not_synced": self.not_synced,
            "already_in_audience": self.already_in_audience,
            "waiting_in_delay": self.waiting,
            "exited": self.exited,
            "duplicates_folded": self.duplicates_folded,
        }


def walk(steps: list[Step], start: int, users: list[HashedUser], now: datetime, result: EntryResult
         ) -> list[Callable[[], None]]:
    """Move users through steps from `start` until a delay holds them or they exit.

    Counts into `result` and returns the writes that record it, to be run in
    one transaction by the caller (worked out before it, so that on SQLite
    the one write lock is held only while rows are written).
    """
    writes: list[Callable[[], None]] = []
    index = start
    while index < len(steps) and users:
        step = steps[index]
        if step.kind == Step.Kind.DELAY:
            writes.append(lambda step=step, users=users: delays.delay_records_insert(step=step, users=users, now=now))
            result.waiting += len(users)
            return writes
        writes.append(_record_sync(step, users, now, result))
        index += 1
    result.exited += len(users)
    return writes


def _matched(users: list[HashedUser], types: Sequence[str]) -> list[HashedUser]:
    """The users with only the identifiers the step matches on: the same users when none carries another."""
    unmatched = [attrgetter(field) for list_type, field in _HASH_FIELDS if list_type not in types]
    if not any(any(map(get, users)) for get in unmatched):
        return users
    return [u.for_types(types) for u in users]


def _record_sync(step: Step, users: list[HashedUser], now: datetime, result: EntryResult) -> Callable[[], None]:
    matched = _matched(users, step.match_list_types)
    already_in: set[str] = set()
    suppressed: set[str] = set()
    if step.action == Step.Action.ADD and step.audience_id:
        # Suppressed users are never added, whichever identifier put them on the list.
        suppressed = suppressed_among(step.canvas.workspace_id, users)
        if ledger.has_members(step.audience_id):  # an audience's first users need no look-up
            already_in = ledger.members_with(step.audience_id, {u.external_id: u for u in matched if u.has_any},
                                             pairs_of=attrgetter("identifiers"), known_to_have_members=True)
    rows = []
    row, step_id, audience_id, action = records.row, step.pk, step.audience_id, step.action
    counted = Counter()
    for user in matched:
        hashes = (user.email_hash, user.idfa_hash, user.maid_hash)
        if user.external_id in suppressed:
            state = SyncRecord.State.SUPPRESSED
        elif not any(hashes):
            state = SyncRecord.State.NOT_SYNCED
        elif user.external_id in already_in:
            state = SyncRecord.State.SYNCED
        else:
            state = SyncRecord.State.PENDING
        counted[state] += 1
        rows.append(row(step_id=step_id, audience_id=audience_id, action=action, external_id=user.external_id,
                        hashes=hashes, state=state, now=now))
    result.suppressed += counted[SyncRecord.State.SUPPRESSED]
    result.not_synced += counted[SyncRecord.State.SUPPRESSED] + counted[SyncRecord.State.NOT_SYNCED]
    result.already_in_audience += counted[SyncRecord.State.SYNCED]
    result.pending += counted[SyncRecord.State.PENDING]
    return lambda: records.insert(rows, now=now)
