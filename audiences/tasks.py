"""Thin django-q2 entry points. Each takes ids, re-reads rows and calls one service.

Schedules are declared here and installed idempotently by
`python manage.py install_schedules` (also run by `migrate`'s post-migrate hook).
"""

from __future__ import annotations

from audiences import services
from audiences.models import DueList
from audiences.sending import pump
from audiences.services import imports, segments
from audiences.services.sources import sources_run_due
from integrations.services.tokens import connections_refresh_expiring

# name -> (function, minutes between runs)
SCHEDULES = {
    "sender watchdog": ("audiences.tasks.sender_watchdog", 1),
    "retry sweeper": ("audiences.tasks.retry_sweep", 1),
    "audience lifecycle": ("audiences.tasks.audiences_sweep", 1),
    "delay steps": ("audiences.tasks.delays_advance", 1),
    "token refresh": ("audiences.tasks.tokens_refresh", 60),
    "idempotency keys purge": ("audiences.tasks.idempotency_purge", 24 * 60),
    "privacy requests": ("audiences.tasks.privacy_requests", 1),
    "retention": ("audiences.tasks.retention", 1),
    "alerts": ("audiences.tasks.alerts_check", 1),
    "segment sources": ("audiences.tasks.segment_sources", 1),
    "imports watchdog": ("audiences.tasks.imports_resume", 1),
}



def sender_pump(slot: int) -> int:
    return pump.run(slot)


def sender_watchdog() -> int:
    """Start a pump for each slot whose pump died (a crash, a restart) while users wait."""
    if not DueList.objects.exists():
        return 0
    return pump.ensure_running()


def retry_sweep() -> int:
    return services.records_error_expired()


def audiences_sweep() -> int:
    return services.audiences_sweep()


def delays_advance() -> int:
    return services.delays_advance()


def idempotency_purge() -> int:
    return services.idempotent_requests_purge()


def privacy_requests() -> int:
    return services.privacy_requests_process()


def alerts_check() -> int:
    return sum(services.alerts_check())


def retention() -> int:
    deleted = sum(services.retention_purge().values())
    segments.snapshots_expire()  # snapshots never committed, with their staged members
    services.vacuum_tables_due()  # the space of what was deleted and updated, on PostgreSQL
    return deleted


def import_run(job_id: int) -> None:
    """One window of an import job; it queues its own successor until the job is done."""
    imports.import_run(job_id=job_id)


def imports_resume() -> int:
    return imports.imports_resume()


def segment_sources() -> int:
    """Run the SQL sources that are due (each holds a lease, so two workers never run the same one), and queue
    again the snapshot commits a worker left unfinished."""
    return sources_run_due() + segments.snapshots_resume()


def snapshot_commit_continue(snapshot_id: int) -> None:
    """One window of a large snapshot's commit; it queues its own successor until the commit is done."""
    segments.snapshot_commit_continue(snapshot_id)


def tokens_refresh() -> int:
    return connections_refresh_expiring()


def schedules_install() -> int:
    """Create or update every schedule by name; safe to run any number of times."""
    from django_q.models import Schedule

    for name, (func, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
    return len(SCHEDULES)
