"""Thin django-q2 entry points. Each takes ids, re-reads rows and calls one service.

Schedules are declared here and installed idempotently by
`python manage.py install_schedules` (also run by `migrate`'s post-migrate hook).
"""

from __future__ import annotations

from audiences import services
from audiences.sending import pump

# name -> (function, minutes between runs)
SCHEDULES = {
    "sender watchdog": ("audiences.tasks.sender_watchdog", 1),
    "retry sweeper": ("audiences.tasks.retry_sweep", 1),
    "audience lifecycle": ("audiences.tasks.audiences_sweep", 1),
    "delay steps": ("audiences.tasks.delays_advance", 1),
    "token refresh": ("audiences.tasks.tokens_refresh", 60),
    "idempotency keys purge": ("audiences.tasks.idempotency_purge", 24 * 60),
    "privacy requests": ("audiences.tasks.privacy_requests", 1),
    "retention": ("audiences.tasks.retention", 10),
    "alerts": ("audiences.tasks.alerts_check", 1),
}



def sender_pump(slot: int) -> int:
    return pump.run(slot)


def sender_watchdog() -> int:
    """Start a pump for each slot whose pump died (a crash, a restart) while users wait."""
    from audiences.models import DueList

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
    return sum(services.retention_purge().values())


def tokens_refresh() -> int:
    from integrations.services import connections_refresh_expiring

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
