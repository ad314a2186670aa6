"""SQL sources: the only writer of SqlSource and SourceRun.

A source is a query on a database of the workspace's (PostgreSQL; SQLite
inside a folder the operator names, for trying it locally) whose rows are a
segment's whole membership. Each run streams the rows with a server-side
cursor inside a read-only transaction under a statement timeout, fills a
snapshot and commits it (services.segments), so a run changes the audience
exactly as a partner's snapshot would. A query that fails, or returns no
usable rows, changes nothing: its snapshot is discarded, the run is kept
with its error, and the alerts open an incident (services.alerts).
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from audiences import leases
from audiences.models import Incident, Segment, Snapshot, SourceRun, SqlSource
from audiences.services import segments
from audiences.services import sources_guard as guard
from audiences.services.audit import audit_record
from audiences.services.entries import user_validate
from audiences.services.errors import EntryRejected, ServiceError
from integrations import crypto

logger = logging.getLogger(__name__)

FETCH = 5_000  # rows read from the cursor, and added to the snapshot, at a time
COLUMNS = {"external_id", "email", "ios_idfa", "android_aid"}
SourceRefused = guard.SourceRefused


def source_create(*, segment: Segment, url: str, query: str, every_minutes: int | None = None,
                  by_staff: bool = False, actor: str = "") -> SqlSource:
    """Attach a SQL source to a segment (one per segment). `by_staff`: any host may be named."""
    target = guard.target_check(url, by_staff=by_staff)
    query = guard.query_check(query)
    _check_every(every_minutes)
    with transaction.atomic():
        if SqlSource.objects.filter(segment=segment).exists():
            raise ServiceError("This segment already has a source; change or delete it instead.")
        source = SqlSource.objects.create(
            workspace_id=segment.workspace_id, segment=segment, url_encrypted=crypto.encrypt(url.strip()),
            url_display=target.display[:300], query=query, every_minutes=every_minutes,
            next_run_at=timezone.now() if every_minutes else None, created_by=(actor or "")[:200],
        )
        audit_record(workspace=segment.workspace_id, action="source.create", target=str(segment),
                     details={"source": source.pk, "where": source.url_display, "every_minutes": every_minutes})
    return source


def source_update(*, source: SqlSource, query: str | None = None, every_minutes: int | None | object = ...,
                  enabled: bool | None = None) -> SqlSource:
    with transaction.atomic():
        if query is not None:
            source.query = guard.query_check(query)
        if every_minutes is not ...:
            _check_every(every_minutes)
            source.every_minutes = every_minutes
            source.next_run_at = timezone.now() if every_minutes else None
        if enabled is not None:
            source.enabled = enabled
        source.save()
        audit_record(workspace=source.workspace_id, action="source.update", target=str(source.segment),
                     details={"source": source.pk, "every_minutes": source.every_minutes, "enabled": source.enabled})
    return source


def _check_every(every_minutes: int | None) -> None:
    if every_minutes is not None and not (isinstance(every_minutes, int) and 1 <= every_minutes <= 7 * 24 * 60):
        raise ServiceError("A source runs every 1 to 10,080 minutes, or only by hand.")


# --- Running ---------------------------------------------------------------------------------------------


def sources_run_due(*, now: datetime | None = None) -> int:
    """Run every enabled source whose time has come, each under a lease (two workers never run one source)."""
    now = now or timezone.now()
    due = SqlSource.objects.filter(enabled=True, next_run_at__lte=now)
    ran = 0
    for source in due.select_related("segment").order_by("next_run_at")[:50]:
        if source_run(source, trigger="schedule") is not None:
            ran += 1
    return ran


def source_run_soon(source: SqlSource) -> None:
    """"Run now": the source is due at once, and a worker is asked to run what is due (a run is a job)."""
    with transaction.atomic():
        SqlSource.objects.filter(pk=source.pk).update(next_run_at=timezone.now())
        audit_record(workspace=source.workspace_id, action="source.run_now", target=str(source.segment),
                     details={"source": source.pk})
        transaction.on_commit(_enqueue)


def _enqueue() -> None:

    async_task("audiences.tasks.segment_sources")


def source_run(source: SqlSource, *, trigger: str) -> SourceRun | None:
    """Run the source once: its rows become a committed snapshot. None if another worker is running it."""
    owner = uuid.uuid4().hex
    lease = f"sql-source:{source.pk}"
    if not leases.acquire(lease, owner, seconds=settings.SEGMENT_SOURCE_STATEMENT_TIMEOUT_SECONDS + 600):
        return None
    try:
        return _run(source, trigger)
    finally:
        leases.release(lease, owner)


def _run(source: SqlSource, trigger: str) -> SourceRun:
    started = time.monotonic()
    now = timezone.now()
    _close_interrupted(source)
    with transaction.atomic():
        # A source run by hand only is due again only when someone asks.
        source.next_run_at = now + timedelta(minutes=source.every_minutes) if source.every_minutes else None
        source.last_run_at = now
        source.save(update_fields=["next_run_at", "last_run_at"])
        run = SourceRun.objects.create(source=source, trigger=(trigger or "")[:200], started_at=now)
    snapshot = segments.snapshot_open(source.segment, source=Snapshot.Source.SQL, actor=f"SQL source {source.pk}")
    run.snapshot = snapshot
    SourceRun.objects.filter(pk=run.pk).update(snapshot=snapshot)  # found again if this worker dies
    try:
        _fill(source, snapshot, run)
        if run.rows == 0:
            raise ServiceError("The query returned no rows; nothing was changed.")
        if run.rows == run.refused:
            raise ServiceError(f"None of the {run.rows:,} rows could be used (see refused); nothing was changed.")
        snapshot = segments.snapshot_commit(snapshot, actor=f"SQL source {source.pk}")
    except (ServiceError, psycopg.Error, sqlite3.Error, OSError) as exc:
        return _failed(source, run, snapshot, exc, started)
    run.added, run.removed = snapshot.added + snapshot.changed, snapshot.removed
    run.status = SourceRun.Status.WAITING if snapshot.state == Snapshot.State.WAITING else SourceRun.Status.DONE
    run.error = snapshot.note if snapshot.state == Snapshot.State.WAITING else ""
    _finish(source, run, started, last_error="")
    return run


def _close_interrupted(source: SqlSource) -> None:
    """Runs a dead worker left running end as failed, their snapshots discarded (this run holds the lease)."""
    for run in SourceRun.objects.filter(source=source, status=SourceRun.Status.RUNNING).select_related("snapshot"):
        snapshot = run.snapshot
        if snapshot is not None and snapshot.state == Snapshot.State.COMMITTING:
            # It was being applied: finish applying it (a commit resumes where it stopped).
            snapshot = segments.snapshot_commit(snapshot, actor=f"SQL source {source.pk}")
            SourceRun.objects.filter(pk=run.pk).update(
                status=SourceRun.Status.DONE, finished_at=timezone.now(), added=snapshot.added + snapshot.changed,
                removed=snapshot.removed, error="Its worker ended while applying it; the next run finished it.")
            continue
        if snapshot is not None and snapshot.state == Snapshot.State.OPEN:
            segments.snapshot_discard(snapshot, actor=f"SQL source {source.pk}")
        SourceRun.objects.filter(pk=run.pk).update(
            status=SourceRun.Status.FAILED, finished_at=timezone.now(),
            error="The run stopped before it ended (its worker ended); nothing it read was sent.")


def _failed(source: SqlSource, run: SourceRun, snapshot: Snapshot, exc: Exception, started: float) -> SourceRun:
    snapshot.refresh_from_db()
    if snapshot.state in (Snapshot.State.OPEN, Snapshot.State.WAITING):
        segments.snapshot_discard(snapshot, actor=f"SQL source {source.pk}")
    run.status = SourceRun.Status.FAILED
    run.error = _error_text(exc)
    logger.warning("SQL source %s failed: %s", source.pk, type(exc).__name__)  # never the query's text or URL
    _finish(source, run, started, last_error=run.error)
    return run


def _error_text(exc: Exception) -> str:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return (f"The query ran longer than {settings.SEGMENT_SOURCE_STATEMENT_TIMEOUT_SECONDS} s and was stopped; "
                "nothing was changed.")
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return "The query tried to write: sources only read. Nothing was changed."
    if isinstance(exc, psycopg.Error):
        # The server's message names the problem (a missing column, a refused login) without the URL's secret.
        detail = getattr(getattr(exc, "diag", None), "message_primary", None) or type(exc).__name__
        return f"The database refused the query: {detail}. Nothing was changed."
    return str(exc)[:2000]


def _finish(source: SqlSource, run: SourceRun, started: float, *, last_error: str) -> None:
    run.finished_at = timezone.now()
    run.duration_ms = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        run.save()
        SqlSource.objects.filter(pk=source.pk).update(last_error=last_error)
        audit_record(workspace=source.workspace_id, action="source.run", target=str(source.segment),
                     details={"source": source.pk, "run": run.pk, "status": run.status, "rows": run.rows,
                              "added": run.added, "removed": run.removed, "refused": run.refused})
    source.last_error = last_error


def _fill(source: SqlSource, snapshot: Snapshot, run: SourceRun) -> None:
    target = guard.target_check(source.url, by_staff=True)  # hosts were checked when saved; the rest again now
    query = guard.query_check(source.query)
    reader = _read_sqlite if target.scheme == "sqlite" else _read_postgres
    for names, rows in reader(source.url, target, query):
        unknown = set(names) - COLUMNS
        if "external_id" not in names or unknown:
            raise ServiceError("The query must return a column external_id and any of email, ios_idfa, android_aid"
                               + (f"; it also returned {', '.join(sorted(unknown))}." if unknown else "."))
        page, seen = [], {}
        for values in rows:
            run.rows += 1
            member = {name: (value if value is None or isinstance(value, str) else str(value))
                      for name, value in zip(names, values, strict=True)}
            try:
                member = user_validate(member, row=run.rows)
            except EntryRejected:
                run.refused += 1
                continue
            earlier = seen.get(member["external_id"])
            if earlier is not None:
                run.refused += earlier != member  # the same user twice with other identifiers: the first stands
                continue
            seen[member["external_id"]] = member
            page.append(member)
        segments.snapshot_add(snapshot, page)
    segments.snapshot_count_refused(snapshot, run.refused)


def _read_postgres(url: str, target: guard.Target, query: str):
    timeout_ms = settings.SEGMENT_SOURCE_STATEMENT_TIMEOUT_SECONDS * 1000
    with psycopg.connect(url, connect_timeout=10, autocommit=False) as conn:
        conn.read_only = True  # every transaction is READ ONLY: the server refuses any write
        with conn.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(timeout_ms)])
            theirs = guard.server_identity(cursor)
            if connection.vendor == "postgresql" and theirs[0] is not None and theirs == _own_identity():
                raise SourceRefused("That is this service's own database: a source must read another one.")
        with conn.cursor(name=f"segment_source_{uuid.uuid4().hex[:8]}") as cursor:
            cursor.itersize = FETCH
            cursor.execute(query)
            names = [column.name for column in cursor.description]
            while rows := cursor.fetchmany(FETCH):
                yield names, rows
        conn.rollback()


def _own_identity() -> tuple:
    with transaction.atomic(), connection.cursor() as cursor:
        return guard.server_identity(cursor)


def _read_sqlite(url: str, target: guard.Target, query: str):
    conn = sqlite3.connect(f"file:{target.database}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA query_only = ON")
        cursor = conn.execute(query)
        names = [column[0] for column in cursor.description or []]
        while rows := cursor.fetchmany(FETCH):
            yield names, rows
    finally:
        conn.close()


def segment_problems() -> dict[tuple[int, str], tuple[str, str]]:
    """(workspace id, key) -> (incident kind, summary): sources whose last run failed, snapshots waiting.

    Read by services.alerts each minute: an incident opens while one of these
    stands and resolves once the next run succeeds or the snapshot is confirmed
    or discarded.
    """

    found = {}
    for pk, workspace_id, error, segment in SqlSource.objects.exclude(last_error="").values_list(
            "pk", "workspace_id", "last_error", "segment__name"):
        found[(workspace_id, f"source:{pk}")] = (
            Incident.Kind.SOURCE_FAILED, f"The SQL source of segment “{segment}” failed: {error}")
    for pk, workspace_id, segment, note in Snapshot.objects.filter(state=Snapshot.State.WAITING).values_list(
            "pk", "segment__workspace_id", "segment__name", "note"):
        found[(workspace_id, f"snapshot:{pk}")] = (
            Incident.Kind.SNAPSHOT_WAITING, f"A snapshot of segment “{segment}” waits for confirmation. {note}")
    return found
