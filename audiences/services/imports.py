"""Files of users taken in as jobs: the only writer of ImportJob.

An upload (admin) or a command stores the file under IMPORTS_ROOT and
creates a job; a django-q2 task (audiences.tasks.import_run) then works
through it in windows of IMPORT_TASK_SECONDS, each ending with a fresh task:

    queued -> checking (every row, nothing written) -> entering (batches) -> done
                       -> refused (bad rows named; nobody entered)

A job is all or nothing as far as the marketer can tell: the whole file is
checked before the first batch. It survives a worker's death: the lease
(`lease_until`) lapses, the watchdog (imports_resume) queues it again, and
it continues after `checkpoint`, the last line checked or entered. Each
batch of entries goes through users_enter_once under the key
`import:<job>:<first line>`, so a batch committed just before the worker
died is answered from the stored result, not entered again; suppression
batches commit with their checkpoint in one transaction.

The same file (SHA-256) for the same target within a day waits for
confirmation before it is queued.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path
from time import monotonic

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from audiences.models import Canvas, ImportJob
from audiences.services import imports_csv as reader
from audiences.services import imports_segment
from audiences.services.audit import acting, audit_record
from audiences.services.entries import entry_fingerprint, users_enter_once
from audiences.services.errors import NotAllowed, ServiceError
from audiences.services.sizes import when
from audiences.services.suppression import suppression_add, suppression_remove

Kind, State = ImportJob.Kind, ImportJob.State
LEASE_MARGIN = timedelta(seconds=30)  # beyond the task's window: a live worker is never taken over
SAME_FILE_WINDOW = timedelta(days=1)
ENTRY_FIGURES = ("pending", "not_synced", "already_in_audience", "waiting_in_delay", "exited", "duplicates_folded")
SUPPRESSION_PART = 5000  # suppression.MAX_ENTRIES: a file of any allowed size is listed in parts of this size


class _WindowOver(Exception):
    """This task's window has passed: the job continues in a fresh task."""


# --- Creating ------------------------------------------------------------------------------------


def import_create(*, workspace, kind: str, file, file_name: str, canvas: Canvas | None = None,
                  segment_id: int | None = None, user=None, actor: str = "", confirmed: bool = False) -> ImportJob:
    """Store the file and create its job: queued, or waiting for confirmation if the same file was imported
    for the same target within a day (and `confirmed` is false).

    `file`: an uploaded file (its chunks are read), a path, or a binary file.
    Refuses (FileRefused) a file over IMPORT_MAX_BYTES before storing it;
    NotAllowed for a canvas that is not active.
    """
    if kind == Kind.ENTRIES and (canvas is None or canvas.status != Canvas.Status.ACTIVE):
        raise NotAllowed("Launch the canvas before adding users: users can only enter a live canvas.")
    stored_name, size, fingerprint = _store(file)
    earlier = _same_file(workspace, kind, canvas, segment_id, fingerprint)
    with transaction.atomic():
        job = ImportJob.objects.create(
            workspace=workspace, kind=kind, canvas=canvas, segment_id=segment_id, stored_name=stored_name,
            file_name=Path(file_name or "users.csv").name[:200], size=size, fingerprint=fingerprint,
            created_by=user if getattr(user, "pk", None) else None, actor=(actor or str(user or ""))[:150],
            state=State.CONFIRM if earlier and not confirmed else State.QUEUED,
            message=_same_file_message(earlier) if earlier and not confirmed else "",
        )
        audit_record(workspace=workspace, action="import.create", target=str(job),
                     details={"job": job.pk, "kind": kind, "size": size, "state": job.state})
        if job.state == State.QUEUED:
            transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _store(file) -> tuple[str, int, str]:
    folder = Path(settings.IMPORTS_ROOT)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.csv"
    digest, size, limit = hashlib.sha256(), 0, reader.max_bytes()
    try:
        with open(folder / name, "wb") as out:
            for chunk in _chunks(file):
                size += len(chunk)
                if size > limit:
                    raise reader.FileRefused(f"The file is over {limit / 1e6:,.0f} MB: split it into several files.")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        (folder / name).unlink(missing_ok=True)
        raise
    return name, size, digest.hexdigest()


def _chunks(file) -> Iterable[bytes]:
    if hasattr(file, "chunks"):
        yield from file.chunks()
        return
    if isinstance(file, (str, Path)):
        with open(file, "rb") as handle:
            yield from iter(lambda: handle.read(1 << 20), b"")
        return
    file.seek(0)
    yield from iter(lambda: file.read(1 << 20), b"")


def _same_file(workspace, kind, canvas, segment_id, fingerprint) -> ImportJob | None:
    return (ImportJob.objects.filter(workspace=workspace, kind=kind, canvas=canvas, segment_id=segment_id,
                                     fingerprint=fingerprint, created_at__gte=timezone.now() - SAME_FILE_WINDOW)
            .exclude(state__in=[State.REFUSED, State.FAILED, State.CANCELLED, State.CONFIRM])
            .order_by("-created_at").first())


def _same_file_message(earlier: ImportJob) -> str:
    who = f" by {earlier.actor}" if earlier.actor else ""
    return (f"The same file ({earlier.file_name}) was imported on {when(earlier.created_at)}{who} "
            f"(import #{earlier.pk}, {earlier.get_state_display().lower()}). Import it again?")


def import_unfinished(*, workspace, kind: str, fingerprint: str, canvas: Canvas | None = None,
                      segment_id: int | None = None) -> ImportJob | None:
    """The latest job of this file for this target that has not ended (a command cut off, say)."""
    return (ImportJob.objects.filter(workspace=workspace, kind=kind, canvas=canvas, segment_id=segment_id,
                                     fingerprint=fingerprint, state__in=ImportJob.ACTIVE)
            .order_by("-created_at").first())


def file_fingerprint(path) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(path):
        digest.update(chunk)
    return digest.hexdigest()


def import_confirm(*, job: ImportJob) -> ImportJob:
    """A job waiting for confirmation is queued."""
    with transaction.atomic():
        if not ImportJob.objects.filter(pk=job.pk, state=State.CONFIRM).update(
                state=State.QUEUED, message="", updated_at=timezone.now()):
            raise NotAllowed("This import is not waiting for confirmation.")
        transaction.on_commit(lambda: _enqueue(job.pk))
    job.refresh_from_db()
    return job


def import_cancel(*, job: ImportJob) -> ImportJob:
    """A job waiting for confirmation, or queued and not started, is dropped with its file."""
    if not ImportJob.objects.filter(pk=job.pk, state__in=[State.CONFIRM, State.QUEUED], started_at=None).update(
            state=State.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now()):
        raise NotAllowed("This import has started: it cannot be cancelled.")
    job.refresh_from_db()
    _delete_file(job)
    return job


def _enqueue(job_id: int) -> None:

    async_task("audiences.tasks.import_run", job_id)


# --- Running -------------------------------------------------------------------------------------


def import_run(*, job_id: int, seconds: float | None = None,
               progress: Callable[[ImportJob], None] | None = None) -> ImportJob | None:
    """Work on the job for up to `seconds` (default IMPORT_TASK_SECONDS; None-like 0 means to the end).

    Returns the job, or None if it is gone, finished, or held by another
    worker. If the window passes first, the job is released and a fresh
    task queued. `progress` is called after each batch (commands print it).
    """
    window = settings.IMPORT_TASK_SECONDS if seconds is None else seconds
    now = timezone.now()
    hold = timedelta(seconds=window or 240) + LEASE_MARGIN  # renewed after every batch
    claimed = ImportJob.objects.filter(Q(lease_until=None) | Q(lease_until__lt=now), pk=job_id,
                                       state__in=ImportJob.ACTIVE).update(lease_until=now + hold, updated_at=now)
    if not claimed:
        return None
    job = ImportJob.objects.select_related("workspace", "canvas").get(pk=job_id)
    deadline = monotonic() + window if window else None

    def save(**changes) -> None:
        """Save progress and renew the lease."""
        now = timezone.now()
        for name, value in changes.items():
            setattr(job, name, value)
        ImportJob.objects.filter(pk=job.pk).update(**changes, updated_at=now, lease_until=now + hold)
        if progress is not None:
            progress(job)

    def over() -> None:
        """Past the deadline, stop here (a consistent point: the checkpoint is saved)."""
        if deadline is not None and monotonic() > deadline:
            raise _WindowOver

    def tick(**changes) -> None:
        save(**changes)
        over()

    try:
        with acting("import", job.actor):
            if job.state == State.QUEUED:
                tick(state=State.CHECKING, started_at=timezone.now(), checkpoint=0)
            if job.state == State.CHECKING:
                _check(job, tick)
            if job.state == State.ENTERING:
                _enter(job, save, over)
    except _WindowOver:
        ImportJob.objects.filter(pk=job.pk).update(lease_until=None)
        transaction.on_commit(lambda: _enqueue(job.pk))
        return job
    except ServiceError as exc:  # the canvas stopped, the file vanished: say so and stop
        _finish(job, State.FAILED, message=_failure(job, str(exc)))
    except Exception as exc:
        _finish(job, State.FAILED, message=_failure(job, f"Unexpected error ({type(exc).__name__})."))
        raise
    return job


def _failure(job: ImportJob, reason: str) -> str:
    if job.state == State.ENTERING and job.rows_entered:
        return f"{reason} Users up to line {job.checkpoint:,} were entered ({job.rows_entered:,} rows)."
    return f"{reason} Nobody was entered."


def _file(job: ImportJob) -> Path:
    path = Path(settings.IMPORTS_ROOT) / job.stored_name
    if not job.stored_name or not path.is_file():
        raise ServiceError("The stored file is gone.")
    return path


def _rules(job: ImportJob) -> dict:
    if job.kind in (Kind.SUPPRESS, Kind.UNSUPPRESS):
        return {"require_external_id": False, "validate": reader.suppression_row}
    return {"json_lines": reader.is_json_lines(job.file_name)}


def _size(job: ImportJob) -> int:
    if job.kind in (Kind.SUPPRESS, Kind.UNSUPPRESS):
        return min(settings.IMPORT_BATCH_SIZE, SUPPRESSION_PART)
    return settings.IMPORT_BATCH_SIZE


def _check(job: ImportJob, tick) -> None:
    errors = [reader.RowError(**error) for error in job.errors]
    checked = reader.Checked(good=job.rows_read - job.rows_refused, errors=errors,
                             errors_more=job.rows_refused - len(errors))

    def saved(figures: reader.Checked) -> None:
        tick(rows_read=figures.rows, rows_refused=figures.refused, checkpoint=figures.last_line,
             errors=[error.as_dict() for error in figures.errors], result={"offset": figures.offset})

    try:
        reader.check_file(_file(job), batch_size=_size(job), after_line=job.checkpoint, checked=checked,
                          progress=saved, after_offset=job.result.get("offset", 0), **_rules(job))
    except reader.FileRefused as exc:
        _finish(job, State.REFUSED, message=f"{exc} Nobody was entered.")
        return
    if not checked.ok:
        _finish(job, State.REFUSED, rows_read=checked.rows, rows_refused=checked.refused,
                errors=[error.as_dict() for error in checked.errors],
                message=f"{checked.refused:,} bad row{'s' if checked.refused != 1 else ''}: nobody was entered. "
                        "Fix them and import the file again.")
        return
    if not checked.good:
        _finish(job, State.REFUSED, rows_read=0, message="The file has no rows: nobody was entered.")
        return
    ignored = f" Columns ignored: {', '.join(checked.ignored)}." if checked.ignored else ""
    tick(state=State.ENTERING, rows_read=checked.rows, rows_refused=0, checkpoint=0, message=ignored.strip(),
         result={"ignored_columns": checked.ignored, "delimiter": checked.delimiter})


def _enter(job: ImportJob, save, over) -> None:
    if job.kind == Kind.SEGMENT:

        rows = reader.batches(_file(job), _size(job), after_line=job.checkpoint, **_rules(job))
        _finish(job, State.DONE, message=imports_segment.enter(job, save, over, rows))
        return
    enter = {Kind.ENTRIES: _enter_users, Kind.SUPPRESS: _suppress, Kind.UNSUPPRESS: _unsuppress}[job.kind]
    # Entries are made durable by their idempotency key, outside any transaction of ours (on SQLite a
    # transaction holds the one write lock, which the sender needs too); suppression parts commit
    # with their checkpoint.
    together = transaction.atomic if job.kind != Kind.ENTRIES else nullcontext
    # Each window starts at the byte after its checkpoint: its cost does not grow with the lines before it.
    for batch in reader.batches_from(_file(job), _size(job), after_line=job.checkpoint,
                                     after_offset=job.result.get("offset", 0), **_rules(job)):
        result = dict(job.result)
        with together():
            entered = enter(job, batch.first_line, batch.users, result)
            if batch.duplicates_folded:  # folded by the reader, so the entry path saw each user once
                result["duplicates_folded"] = result.get("duplicates_folded", 0) + batch.duplicates_folded
            result["offset"] = batch.end_offset
            save(checkpoint=batch.last_line, rows_entered=job.rows_entered + entered, result=result)
        over()
    _finish(job, State.DONE, message=summary(job))


def _enter_users(job: ImportJob, first: int, users: list[dict], result: dict) -> int:
    key = f"import:{job.pk}:{first}"
    _, answer, _ = users_enter_once(canvas=job.canvas, users=users, idempotency_key=key,
                                    fingerprint=entry_fingerprint(canvas=job.canvas, users=users))
    for name in ENTRY_FIGURES:
        result[name] = result.get(name, 0) + answer.get(name, 0)
    return answer.get("entered", len(users))


def _suppress(job: ImportJob, first: int, entries: list[dict], result: dict) -> int:

    part = suppression_add(workspace=job.workspace, entries=entries)
    for name, value in part.as_dict().items():
        result[name] = result.get(name, 0) + value
    return len(entries)


def _unsuppress(job: ImportJob, first: int, entries: list[dict], result: dict) -> int:

    result["unlisted"] = result.get("unlisted", 0) + suppression_remove(workspace=job.workspace, entries=entries)
    return len(entries)


def _finish(job: ImportJob, state: str, **changes) -> None:
    now = timezone.now()
    changes = {"state": state, "finished_at": now, "updated_at": now, "lease_until": None, **changes}
    ImportJob.objects.filter(pk=job.pk).update(**changes)
    for name, value in changes.items():
        setattr(job, name, value)
    _delete_file(job)
    audit_record(workspace=job.workspace_id, action=f"import.{state}", target=str(job),
                 details={"job": job.pk, "rows_read": job.rows_read, "rows_entered": job.rows_entered,
                          "rows_refused": job.rows_refused})


def _delete_file(job: ImportJob) -> None:
    if job.stored_name:
        (Path(settings.IMPORTS_ROOT) / job.stored_name).unlink(missing_ok=True)
        ImportJob.objects.filter(pk=job.pk).update(stored_name="")
        job.stored_name = ""


def imports_resume(*, stale: timedelta = timedelta(seconds=30)) -> int:
    """Queue again every unfinished job nobody holds (its worker died, or its task was lost). A schedule."""
    now = timezone.now()
    lost = ImportJob.objects.filter(Q(lease_until=None) | Q(lease_until__lt=now), state__in=ImportJob.ACTIVE,
                                    updated_at__lt=now - stale).values_list("pk", flat=True)
    ids = list(lost[:100])
    for job_id in ids:
        ImportJob.objects.filter(pk=job_id).update(updated_at=now)  # not queued again by the next sweep
        _enqueue(job_id)
    return len(ids)


# --- Reading ---------------------------------------------------------------------------------------


def summary(job: ImportJob) -> str:
    """One sentence of what the job did, as the page and the command say it."""
    r = job.result or {}
    if job.kind == Kind.ENTRIES:
        return (f"{job.rows_entered:,} users entered: {r.get('pending', 0):,} pending (on their way to Pinterest), "
                f"{r.get('not_synced', 0):,} not synced (no match field), {r.get('already_in_audience', 0):,} "
                f"already in the audience, {r.get('waiting_in_delay', 0):,} waiting in a delay step, "
                f"{r.get('exited', 0):,} reached the last step.")
    if job.kind == Kind.SUPPRESS:
        return (f"{r.get('listed', 0):,} identifiers listed ({r.get('already_listed', 0):,} were already); "
                f"{r.get('removals_started', 0):,} users are being removed from their audiences.")
    if job.kind == Kind.UNSUPPRESS:
        return f"{r.get('unlisted', 0):,} identifiers taken off the suppression list."
    return r.get("summary", f"{job.rows_entered:,} members sent.")


def import_status(job: ImportJob) -> dict:
    """What the job's page shows, as JSON: state, figures, the first bad rows."""
    return {
        "id": job.pk, "state": job.state, "state_label": job.get_state_display(), "finished": job.state in ImportJob.FINISHED, "file_name": job.file_name, "size": job.size,
        "rows_read": job.rows_read, "rows_entered": job.rows_entered, "rows_refused": job.rows_refused,
        "checkpoint": job.checkpoint, "errors": job.errors, "message": job.message, "result": job.result,
        "created_at": job.created_at.isoformat(), "started_at": job.started_at and job.started_at.isoformat(),
        "finished_at": job.finished_at and job.finished_at.isoformat(),
    }


def imports_of_canvas(canvas: Canvas, *, limit: int = 20) -> list[ImportJob]:
    """The canvas's upload history, newest first."""
    return list(ImportJob.objects.filter(canvas=canvas).select_related("created_by")[:limit])
