"""Thin django-q2 entry points. Each takes ids, re-reads rows and calls one service.

Schedules are declared here and installed idempotently by
`python manage.py install_schedules` (also run by `migrate`'s post-migrate hook).
"""

from __future__ import annotations

from datetime import datetime

from audiences import lifecycle, services, sync

# name -> (function, minutes between runs)
SCHEDULES = {
    "sender watchdog": ("audiences.tasks.sender_watchdog", 1),
    "retry sweeper": ("audiences.tasks.retry_sweep", 1),
    "audience lifecycle": ("audiences.tasks.audiences_sweep", 1),
    "delay steps": ("audiences.tasks.delays_advance", 1),
    "token refresh": ("audiences.tasks.tokens_refresh", 60),
    "idempotency keys purge": ("audiences.tasks.idempotency_purge", 24 * 60),
}


def sender_loop() -> None:
    sync.sender_loop()


def sender_watchdog() -> None:
    """Start a sender loop when none holds the lease (after a crash or a restart)."""
    from audiences import leases

    if not leases.is_live(sync.LOOP_LEASE):
        sync._enqueue("audiences.tasks.sender_loop")


def drain_list(audience_id: int, action: str, flush_before: str | None) -> int:
    from django.conf import settings

    return sync.drain(
        audience_id,
        action,
        flush_before=datetime.fromisoformat(flush_before) if flush_before else None,
        threads=settings.SYNC_REQUESTS_IN_FLIGHT_PER_SENDER,
        linger_seconds=1.0,
        hand_over=True,
    )


def retry_sweep() -> int:
    return services.records_error_expired()


def audiences_sweep() -> int:
    return lifecycle.audiences_sweep()


def delays_advance() -> int:
    return services.delays_advance()


def idempotency_purge() -> int:
    return services.idempotent_requests_purge()


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
