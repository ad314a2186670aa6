"""Segments kept in step: the only writer of Segment, Snapshot, SnapshotMember and SnapshotPage.

A snapshot is a segment's complete membership at one moment. It is opened,
filled in pages (`snapshot_add`; `snapshot_add_page` remembers each page
under an idempotency key), and committed: members the last committed
snapshot lacked (or held with other identifiers) enter the segment's step
as adds, members who left enter it as removes, through the same records,
sender, ledger and limits as any entry, so the step's figures count them.
Until it is committed a snapshot changes nothing.

A commit that would remove more than the segment's `max_removal_percent` of
its members waits for confirmation: an empty or truncated export is the
usual way such syncs wipe an audience. Applying a commit goes in chunks,
each one transaction that also records where it got to, so a commit cut
off (a worker killed) resumes where it stopped and nobody enters twice.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django_q.tasks import async_task
from django.utils import timezone

from audiences import leases
from audiences.models import Canvas, Segment, Snapshot, SnapshotPage, Step
from audiences.sending import pump, records
from audiences.services import segments_sql as sql
from audiences.services.audit import audit_record
from audiences.services.entries import hash_users
from audiences.services.errors import IdempotencyKeyReused, NotAllowed, ServiceError
from audiences.services.steps import EntryResult, HashedUser, walk

MAX_PAGE = 10_000  # members per page, like an entry call
APPLY_CHUNK = 10_000  # members written per transaction while applying a commit
COMMIT_LEASE_SECONDS = 600
State = Snapshot.State


def segment_create(*, step: Step, name: str = "", max_removal_percent: int = 50) -> Segment:
    """Feed an Audience Sync step (adding to its audience) from a segment; one segment per step."""
    if step.kind != Step.Kind.AUDIENCE_SYNC or step.action != Step.Action.ADD:
        raise ServiceError("A segment feeds an Audience Sync step that adds users to its audience.")
    _check_percent(max_removal_percent)
    with transaction.atomic():
        if Segment.objects.filter(step=step).exists():
            raise NotAllowed("This step is already fed by a segment.")
        segment = Segment.objects.create(workspace_id=step.canvas.workspace_id, step=step, name=name.strip()[:200],
                                         max_removal_percent=max_removal_percent)
        audit_record(workspace=segment.workspace_id, action="segment.create", target=str(segment),
                     details={"segment": segment.pk, "step": step.pk})
    return segment


def segment_update(*, segment: Segment, name: str | None = None, max_removal_percent: int | None = None) -> Segment:
    with transaction.atomic():
        if name is not None:
            segment.name = name.strip()[:200]
        if max_removal_percent is not None:
            _check_percent(max_removal_percent)
            segment.max_removal_percent = max_removal_percent
        segment.save(update_fields=["name", "max_removal_percent"])
        audit_record(workspace=segment.workspace_id, action="segment.update", target=str(segment),
                     details={"segment": segment.pk, "max_removal_percent": segment.max_removal_percent})
    return segment


def _check_percent(value: int) -> None:
    if not isinstance(value, int) or not 0 <= value <= 100:
        raise ServiceError("The share of members a snapshot may remove without confirmation is 0 to 100 percent.")


# --- Filling a snapshot -----------------------------------------------------------------------------


def snapshot_open(segment: Segment, *, source: str, actor: str) -> Snapshot:
    """A new, empty snapshot of the segment, open for members. `source`: a Snapshot.Source value."""
    if source not in Snapshot.Source.values:
        raise ServiceError(f"Unknown snapshot source {source!r}.")
    with transaction.atomic():
        snapshot = Snapshot.objects.create(segment=segment, source=source, actor=(actor or "")[:200])
        audit_record(workspace=segment.workspace_id, action="snapshot.open", target=str(segment),
                     details={"segment": segment.pk, "snapshot": snapshot.pk, "source": source})
    return snapshot


def snapshot_add(snapshot: Snapshot, members: Sequence[dict]) -> int:
    """Add a page of members to an open snapshot; returns how many members the page held.

    Each member: {"external_id", and any of "email", "ios_idfa",
    "android_aid"}, raw or already hashed, checked as an entry checks them
    (services.entries.user_validate): one bad row raises EntryRejected and
    adds nothing. A member sent again (in another page) keeps the
    identifiers sent last.
    """
    hashed = _checked(snapshot, members)
    with transaction.atomic():
        _add(snapshot, hashed, len(members))
    return len(hashed)


def snapshot_add_page(snapshot: Snapshot, members: Sequence[dict], *, key: str) -> tuple[dict, bool]:
    """snapshot_add remembered under an idempotency key: (answer, replayed).

    The same key with the same members adds nothing again and answers the
    first answer; with other members it raises IdempotencyKeyReused.
    """
    fingerprint = hashlib.sha256(json.dumps(list(members), sort_keys=True, separators=(",", ":"),
                                            ensure_ascii=False).encode()).hexdigest()

    def replay(stored: SnapshotPage) -> tuple[dict, bool]:
        if stored.fingerprint != fingerprint:
            raise IdempotencyKeyReused(f"Idempotency key {key!r} was used for another page of this snapshot.")
        return stored.response, True

    stored = SnapshotPage.objects.filter(snapshot=snapshot, key=key).first()
    if stored is not None:
        return replay(stored)
    hashed = _checked(snapshot, members)
    answer = {"accepted": len(hashed), "duplicates_folded": hashed.duplicates_folded}
    try:
        with transaction.atomic():
            _add(snapshot, hashed, len(members))
            SnapshotPage.objects.create(snapshot=snapshot, key=key, fingerprint=fingerprint, response=answer)
    except IntegrityError:
        return replay(SnapshotPage.objects.get(snapshot=snapshot, key=key))
    return answer, False


def _checked(snapshot: Snapshot, members: Sequence[dict]):
    if len(members) > MAX_PAGE:
        raise ServiceError(f"At most {MAX_PAGE:,} members per page; send the rest in further pages.")
    if snapshot.state != State.OPEN:
        raise NotAllowed(f"Snapshot {snapshot.pk} is {snapshot.get_state_display().lower()}: members can only be "
                         "added to an open snapshot.")
    return hash_users(members)


def _add(snapshot: Snapshot, hashed: list[HashedUser], rows: int) -> None:
    # The state is checked again inside the transaction: a page must not slip into a snapshot being committed.
    if not Snapshot.objects.filter(pk=snapshot.pk, state=State.OPEN).update(rows=F("rows") + rows):
        raise NotAllowed(f"Snapshot {snapshot.pk} is no longer open.")
    sql.stage(snapshot.pk, hashed)
    snapshot.rows += rows


def snapshot_count_refused(snapshot: Snapshot, refused: int) -> None:
    """Rows its source read but could not use (a SQL source's run): shown with the snapshot's counts."""
    Snapshot.objects.filter(pk=snapshot.pk).update(refused=refused)


def snapshot_discard(snapshot: Snapshot, *, actor: str) -> Snapshot:
    """An open or waiting snapshot is dropped: nothing it held is sent."""
    with transaction.atomic():
        if not Snapshot.objects.filter(pk=snapshot.pk, state__in=[State.OPEN, State.WAITING]).update(
                state=State.DISCARDED, closed_at=timezone.now(), committed_by=(actor or "")[:200]):
            raise NotAllowed("Only an open snapshot or one waiting for confirmation can be discarded.")
        _forget(snapshot.pk)
        audit_record(workspace=snapshot.segment.workspace_id, action="snapshot.discard", target=str(snapshot.segment),
                     details={"snapshot": snapshot.pk})
    snapshot.refresh_from_db()
    return snapshot


def snapshots_expire(*, now=None) -> int:
    """Discard snapshots left open or waiting longer than SNAPSHOT_OPEN_DAYS, with their staged members.

    A partner's export that died half-way never commits; without this its
    staged members would stay in the database for good. Returns how many
    were discarded. Run by the retention schedule.
    """
    now = now or timezone.now()
    days = settings.SNAPSHOT_OPEN_DAYS
    expired = 0
    stale = Snapshot.objects.filter(state__in=[State.OPEN, State.WAITING], opened_at__lt=now - timedelta(days=days))
    for snapshot in stale.select_related("segment").order_by("pk")[:100]:
        with transaction.atomic():
            if not Snapshot.objects.filter(pk=snapshot.pk, state__in=[State.OPEN, State.WAITING]).update(
                    state=State.DISCARDED, closed_at=now,
                    note=f"Discarded: not committed within {days:g} days of being opened."):
                continue
            _forget(snapshot.pk)
            audit_record(workspace=snapshot.segment.workspace_id, action="snapshot.expire",
                         target=str(snapshot.segment), details={"snapshot": snapshot.pk, "days": days})
        expired += 1
    return expired


def _forget(snapshot_id: int) -> None:
    sql.forget(snapshot_id)
    SnapshotPage.objects.filter(snapshot_id=snapshot_id).delete()


# --- Committing -------------------------------------------------------------------------------------


def snapshot_commit(snapshot: Snapshot, *, actor: str, confirmed: bool = False,
                    seconds: float | None = None) -> Snapshot:
    """Make the segment's audience equal the snapshot: add newcomers, remove leavers. Returns the snapshot.

    Its state after: committed; or waiting, if it would remove more than
    the segment's share and `confirmed` is false (nothing is sent; commit
    again with `confirmed` to apply it, or discard it); or still
    committing, if `seconds` ran out first (commit it again, or let
    `snapshot_commit_continue` do it, to go on). A snapshot being applied
    (a commit cut off) resumes. The step's canvas must be active.
    """
    deadline = time.monotonic() + seconds if seconds is not None else None
    segment = Segment.objects.select_related("step__canvas", "step__audience").get(pk=snapshot.segment_id)
    _check_active(segment)
    owner = uuid.uuid4().hex
    lease = f"segment-commit:{segment.pk}"
    if not leases.acquire(lease, owner, seconds=COMMIT_LEASE_SECONDS):
        raise NotAllowed("Another snapshot of this segment is being committed; try again when it is done.")
    try:
        snapshot.refresh_from_db()
        if snapshot.state in (State.OPEN, State.WAITING):
            _check_alone(segment, snapshot)
            if not _decide(segment, snapshot, actor=actor, confirmed=confirmed):
                return snapshot
        elif snapshot.state == State.COMMITTING and not snapshot.changes_counted:
            if not _decide(segment, snapshot, actor=snapshot.committed_by, confirmed=snapshot.confirmed):
                return snapshot
        elif snapshot.state != State.COMMITTING:
            raise NotAllowed(f"Snapshot {snapshot.pk} is {snapshot.get_state_display().lower()}.")
        _apply(segment, snapshot, lambda: leases.renew(lease, owner, seconds=COMMIT_LEASE_SECONDS), deadline)
    finally:
        leases.release(lease, owner)
    snapshot.refresh_from_db()
    return snapshot


def _check_active(segment: Segment) -> None:
    if segment.step.canvas.status != Canvas.Status.ACTIVE:
        raise NotAllowed("The step's canvas is not active: launch it before committing a snapshot.")


def _check_alone(segment: Segment, snapshot: Snapshot) -> None:
    if Snapshot.objects.filter(segment=segment, state=State.COMMITTING).exclude(pk=snapshot.pk).exists():
        raise NotAllowed("Another snapshot of this segment is being applied; commit it first.")


# --- Committing from a request: small ones at once, large ones by a worker ---------------------------


def snapshot_commit_request(snapshot: Snapshot, *, actor: str, confirmed: bool = False) -> Snapshot:
    """A commit asked for by a partner or a marketer, answered within a web request's time.

    A snapshot of up to SEGMENT_COMMIT_INLINE_ROWS rows is committed here,
    for up to SEGMENT_COMMIT_INLINE_SECONDS; a larger one, or one not
    finished by then, is left committing and handed to a worker
    (`snapshot_commit_continue`), which counts and applies it and may
    still leave it waiting for confirmation. The caller reads the state.
    """
    snapshot.refresh_from_db()
    if snapshot.state in (State.OPEN, State.WAITING) and snapshot.rows > settings.SEGMENT_COMMIT_INLINE_ROWS:
        segment = Segment.objects.select_related("step__canvas").get(pk=snapshot.segment_id)
        _check_active(segment)
        _check_alone(segment, snapshot)
        with transaction.atomic():
            if not Snapshot.objects.filter(pk=snapshot.pk, state__in=[State.OPEN, State.WAITING]).update(
                    state=State.COMMITTING, changes_counted=False, confirmed=confirmed,
                    committed_by=(actor or "")[:200], touched_at=timezone.now()):
                raise NotAllowed("This snapshot changed meanwhile; read it again.")
            audit_record(workspace=segment.workspace_id, action="snapshot.commit_queued", target=str(segment),
                         details={"snapshot": snapshot.pk, "rows": snapshot.rows, "confirmed": confirmed})
            transaction.on_commit(lambda: _enqueue(snapshot.pk))
        snapshot.refresh_from_db()
        return snapshot
    snapshot = snapshot_commit(snapshot, actor=actor, confirmed=confirmed,
                               seconds=settings.SEGMENT_COMMIT_INLINE_SECONDS)
    if snapshot.state == State.COMMITTING:
        Snapshot.objects.filter(pk=snapshot.pk).update(touched_at=timezone.now())
        _enqueue(snapshot.pk)
    return snapshot


def snapshot_commit_continue(snapshot_id: int) -> Snapshot | None:
    """A worker's turn at a commit handed over by a request: one task's time, then its successor is queued."""
    snapshot = Snapshot.objects.filter(pk=snapshot_id, state=State.COMMITTING).first()
    if snapshot is None:
        return None
    try:
        snapshot = snapshot_commit(snapshot, actor=snapshot.committed_by, confirmed=snapshot.confirmed,
                                   seconds=settings.IMPORT_TASK_SECONDS)
    except NotAllowed:
        return snapshot  # another worker holds the segment; the sweep comes back if it dies
    if snapshot.state == State.COMMITTING:
        _enqueue(snapshot.pk)
    return snapshot


def snapshots_resume(*, stale: timedelta = timedelta(minutes=2)) -> int:
    """Queue again every commit nobody is working on (its worker died, or its task was lost). A schedule."""
    now = timezone.now()
    lost = Snapshot.objects.filter(state=State.COMMITTING).filter(
        Q(touched_at=None) | Q(touched_at__lt=now - stale)).values_list("pk", "segment_id")
    queued = 0
    for snapshot_id, segment_id in lost[:100]:
        if leases.is_live(f"segment-commit:{segment_id}"):
            continue
        Snapshot.objects.filter(pk=snapshot_id).update(touched_at=now)  # not queued again by the next sweep
        _enqueue(snapshot_id)
        queued += 1
    return queued


def _enqueue(snapshot_id: int) -> None:
    async_task("audiences.tasks.snapshot_commit_continue", snapshot_id)


def _decide(segment: Segment, snapshot: Snapshot, *, actor: str, confirmed: bool) -> bool:
    """Count the changes; start applying them (True), or leave the snapshot waiting for confirmation."""
    members = sql.count_members(snapshot.pk)
    added, changed, removed = sql.count_changes(snapshot.pk, segment.current_snapshot_id)
    counts = {"members": members, "added": added - changed, "changed": changed, "removed": removed}
    over = segment.members and removed * 100 > segment.max_removal_percent * segment.members
    waits = bool(over and not confirmed)
    share = f"{removed / segment.members:.0%}" if segment.members else "0%"
    note = (f"Would remove {removed:,} of {segment.members:,} members ({share}), more than the "
            f"{segment.max_removal_percent}% allowed without confirmation.") if over else ""
    with transaction.atomic():
        Snapshot.objects.filter(pk=snapshot.pk).update(
            **counts, note=note, committed_by=(actor or "")[:200], confirmed=confirmed, changes_counted=True,
            state=State.WAITING if waits else State.COMMITTING,
        )
        audit_record(workspace=segment.workspace_id, action="snapshot.wait" if waits else "snapshot.commit",
                     target=str(segment), details={"snapshot": snapshot.pk, **counts, "confirmed": confirmed})
    snapshot.refresh_from_db()
    return not waits


def _apply(segment: Segment, snapshot: Snapshot, renew, deadline: float | None) -> None:
    """Write the changes in chunks, each with where it got to; stop after a chunk once `deadline` has passed."""

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() > deadline

    step = Step.objects.select_related("audience", "canvas").get(pk=segment.step_id)
    previous = segment.current_snapshot_id
    while not snapshot.adds_done:
        users = sql.newcomers(snapshot.pk, previous, after=snapshot.applied_adds_after, limit=APPLY_CHUNK)
        now = timezone.now()
        writes = walk([step], 0, users, now, EntryResult()) if users else []
        with transaction.atomic():
            for write in writes:
                write()
            snapshot.applied_adds_after = users[-1].external_id if users else snapshot.applied_adds_after
            snapshot.adds_done = not users
            snapshot.touched_at = now
            snapshot.save(update_fields=["applied_adds_after", "adds_done", "touched_at"])
            transaction.on_commit(pump.wake)
        renew()
        if out_of_time():
            return
    while True:
        users = sql.leavers(snapshot.pk, previous, after=snapshot.applied_removes_after, limit=APPLY_CHUNK)
        if not users:
            break
        now = timezone.now()
        types = step.match_list_types
        rows = []
        for user in (u.for_types(types) for u in users):
            state = records.PENDING if user.has_any else records.NOT_SYNCED
            rows.append(records.row(step_id=step.pk, audience_id=step.audience_id, action=Step.Action.REMOVE,
                                    external_id=user.external_id,
                                    hashes=(user.email_hash, user.idfa_hash, user.maid_hash), state=state, now=now))
        with transaction.atomic():
            records.insert(rows, now=now)
            snapshot.applied_removes_after = users[-1].external_id
            snapshot.touched_at = now
            snapshot.save(update_fields=["applied_removes_after", "touched_at"])
            transaction.on_commit(pump.wake)
        renew()
        if out_of_time():
            return
    with transaction.atomic():
        Snapshot.objects.filter(pk=snapshot.pk).update(state=State.COMMITTED, closed_at=timezone.now())
        Segment.objects.filter(pk=segment.pk).update(current_snapshot=snapshot, members=snapshot.members)
        if previous:
            _forget(previous)
