"""Steps: the only writer of Step, and every rule that depends on a step's kind.

A step kind decides what a step needs before launch, which fields it has,
and what happens to the users who reach it (`walk`): an Audience Sync step
records each user's sync and lets them go straight on; a Delay step holds
them until their wake time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from audiences.models import Audience, Canvas, Step, SyncRecord
from audiences.sending import ledger, records
from audiences.services import delays
from audiences.services.audiences import AudienceChoice, audience_resolve, check_ad_account, prefetch_existing
from audiences.services.audit import audit_record
from audiences.services.errors import NotAllowed, ServiceError
from audiences.services.suppressed import suppressed_among
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
        return Step.objects.create(
            canvas=canvas, position=_next_position(canvas), kind=Step.Kind.AUDIENCE_SYNC, name=name,
            ad_account=ad_account, audience=audience, action=action, **flags,
        )


def step_create_delay(*, canvas: Canvas, seconds: int, name: str = "") -> Step:
    _check_editable(canvas)
    if seconds <= 0:
        raise ServiceError("A delay must be at least one second.")
    return Step.objects.create(
        canvas=canvas, position=_next_position(canvas), kind=Step.Kind.DELAY, delay_seconds=seconds, name=name
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
    """Change a step. Arguments left out keep their value.

    The name is only a label and changes in any canvas state; everything
    else needs the canvas not to be active. `audience` is an AudienceChoice
    (or None to clear it); changing the ad account needs an audience of the
    new ad account too.
    """
    canvas = step.canvas
    changes = {"ad_account": ad_account, "audience": audience, "action": action, "match_fields": match_fields,
               "delay_seconds": delay_seconds}
    if any(value is not _UNCHANGED for value in changes.values()):
        _check_editable(canvas)
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


def _record_sync(step: Step, users: list[HashedUser], now: datetime, result: EntryResult) -> Callable[[], None]:
    types = step.match_list_types
    matched = [u.for_types(types) for u in users]
    already_in: set[str] = set()
    suppressed: set[str] = set()
    if step.action == Step.Action.ADD and step.audience_id:
        # Suppressed users are never added, whichever identifier put them on the list.
        suppressed = suppressed_among(step.audience.workspace_id, users)
        already_in = ledger.members_with(step.audience_id, {u.external_id: u.identifiers for u in matched if u.has_any})
    rows = []
    for user in matched:
        if user.external_id in suppressed:
            state = SyncRecord.State.SUPPRESSED
            result.not_synced += 1
            result.suppressed += 1
        elif not user.has_any:
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
