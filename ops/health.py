"""Is the service able to do its job? The checks behind /healthz and `sync_status`.

Each check answers a status ("ok" or "fail") and what it saw; the service is
healthy when every check is ok. The checks read a few rows whatever the
backlog: the oldest due record is one index range scan per list on the
sender's work list (`syncrecord_due` starts with state, audience, action and
ends with next_attempt_at), never a scan of every pending record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Q
from django.utils import timezone

from audiences.models import DueList, RetentionProgress, SyncRecord
from audiences.sending import pump
from audiences.services.retention import window_seconds
from integrations.models import PinterestConnection

OK, FAIL = "ok", "fail"


@dataclass
class Check:
    status: str
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"status": self.status, **self.detail}


@dataclass
class Health:
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(check.status == OK for check in self.checks.values())

    def as_dict(self) -> dict:
        return {"status": OK if self.ok else FAIL, "checks": {name: c.as_dict() for name, c in self.checks.items()}}


def check_database() -> Check:
    started = time.monotonic()
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is the answer
        try:
            connection.close()  # the next request opens a new connection (the database may be back)
        except Exception:  # noqa: BLE001
            pass
        return Check(FAIL, {"error": type(exc).__name__})
    return Check(OK, {"vendor": connection.vendor, "ms": round((time.monotonic() - started) * 1000, 1)})


def check_broker() -> Check:
    """django-q2's broker answers: Redis a PING (REDIS_URL); the ORM broker is the database itself.

    The ping uses a client of its own with short timeouts rather than django-q2's
    broker connection, which has none: a probe must answer even when Redis hangs.
    """
    url = settings.Q_CLUSTER.get("redis")
    if not url:
        database = check_database()
        return Check(database.status, {"broker": "orm", **database.detail})
    import redis

    started = time.monotonic()
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        alive = bool(client.ping())
    except Exception as exc:  # noqa: BLE001 - a broker that cannot be reached is the answer
        return Check(FAIL, {"broker": "redis", "error": type(exc).__name__})
    finally:
        client.close()
    return Check(OK if alive else FAIL, {"broker": "redis", "ms": round((time.monotonic() - started) * 1000, 1)})


@dataclass(frozen=True)
class WorkList:
    """The sender's work list as operators see it."""

    oldest_due: datetime | None  # when the longest-waiting user of a list that can send became due
    lists: int  # lists on the work list whose workspace can send
    due_per_workspace: dict[str, int]  # users due now, per workspace slug (only when counted)


def work_list(now: datetime, *, count_due: bool = False) -> WorkList:
    """One aggregate per list on the work list (one index range scan each).

    Only lists whose workspace can send count for the oldest due user:
    users held by a revoked token wait for the workspace to reconnect, not
    for this service. `count_due` also counts every list's due users (a
    scan of the list's pending users, so /metrics asks and /healthz does not).
    """
    oldest = None
    lists = 0
    due_per_workspace: dict[str, int] = {}
    for audience_id, action, workspace, status in DueList.objects.values_list(
        "audience_id", "action", "audience__workspace__slug", "audience__ad_account__connection__status"
    ):
        can_send = status == PinterestConnection.Status.VALID
        if not (can_send or count_due):
            continue
        pending = SyncRecord.objects.filter(state=SyncRecord.State.PENDING, audience_id=audience_id, action=action)
        if count_due:
            found = pending.aggregate(first=Min("next_attempt_at"), due=Count("id", filter=Q(next_attempt_at__lte=now)))
            due_per_workspace[workspace] = due_per_workspace.get(workspace, 0) + found["due"]
        else:
            found = pending.aggregate(first=Min("next_attempt_at"))
        if can_send:
            lists += 1
            if found["first"] is not None and (oldest is None or found["first"] < oldest):
                oldest = found["first"]
    return WorkList(oldest, lists, due_per_workspace)


def due_age_seconds(oldest: datetime | None, now: datetime) -> float:
    """How long the longest-waiting due user has waited; 0 when nobody is due (retries in backoff wait on purpose)."""
    if oldest is None or oldest > now:
        return 0.0
    return (now - oldest).total_seconds()


def check_sender_and_backlog(now: datetime | None = None) -> tuple[Check, Check]:
    now = now or timezone.now()
    try:
        work = work_list(now)
        oldest, lists = work.oldest_due, work.lists
        alive = pump.alive()
    except Exception as exc:  # noqa: BLE001 - the database check says why
        failed = Check(FAIL, {"error": type(exc).__name__})
        return failed, failed
    age = due_age_seconds(oldest, now)
    # Entering starts a pump within a tick and the watchdog restarts a dead one within a minute:
    # nobody alive is a failure only once a user has waited past the grace.
    sender_ok = alive > 0 or age <= settings.HEALTH_SENDER_GRACE_SECONDS
    sender = Check(OK if sender_ok else FAIL, {"pumps_alive": alive, "pumps": settings.SYNC_PUMPS, "due_lists": lists})
    backlog_ok = age <= settings.HEALTH_MAX_DUE_AGE_SECONDS
    backlog = Check(
        OK if backlog_ok else FAIL,
        {"age_seconds": round(age, 1), "limit_seconds": settings.HEALTH_MAX_DUE_AGE_SECONDS,
         "oldest_due_at": oldest.isoformat() if oldest and oldest <= now else None},
    )
    return sender, backlog


def retention_age_seconds(progress, now: datetime) -> float:
    """Age of the oldest finished row of one kind still kept (0: none kept)."""
    return max((now - progress.oldest_kept_at).total_seconds(), 0.0) if progress.oldest_kept_at else 0.0


def retention_is_behind(progress, now: datetime) -> bool:
    limit = progress_limit_seconds(progress.kind)
    return retention_age_seconds(progress, now) > limit + settings.HEALTH_RETENTION_GRACE_SECONDS


def progress_limit_seconds(kind: str) -> float:
    return window_seconds(kind)


def check_retention(now: datetime | None = None) -> Check:
    """Retention keeps pace: no finished row is kept much past its retention window (RetentionProgress, a few rows)."""
    now = now or timezone.now()
    try:
        progress = list(RetentionProgress.objects.order_by("kind"))
    except Exception as exc:  # noqa: BLE001 - the database check says why
        return Check(FAIL, {"error": type(exc).__name__})
    behind = [p.kind for p in progress if retention_is_behind(p, now)]
    oldest = {p.kind: round(retention_age_seconds(p, now)) for p in progress}
    return Check(FAIL if behind else OK, {"behind": behind, "oldest_kept_age_seconds": oldest,
                                          "grace_seconds": settings.HEALTH_RETENTION_GRACE_SECONDS})


def health(now: datetime | None = None) -> Health:
    database = check_database()
    broker = check_broker()
    if database.status == OK:
        sender, backlog = check_sender_and_backlog(now)
    else:
        sender = backlog = Check(FAIL, {"error": "database unreachable"})
    retention = check_retention(now) if database.status == OK else Check(FAIL, {"error": "database unreachable"})
    return Health({"database": database, "broker": broker, "sender": sender, "oldest_due": backlog,
                   "retention": retention})

