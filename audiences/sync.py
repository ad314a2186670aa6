"""The batch sender and its retry policy.

How users reach Pinterest:

1. Entering writes pending SyncRecords and wakes the sender (`wake`).
2. The sender loop (a long-running django-q2 task holding a lease) checks
   the lists with due users every half second: a list with a full batch
   waiting (1,900 users) is handed to drain tasks on the workers at once,
   and a list whose longest-waiting user has waited about a window
   (SYNC_WINDOW_SECONDS) is flushed, partial batch and all.
3. A drain claims up to one batch with a lease (a conditional UPDATE; SKIP
   LOCKED on PostgreSQL), sends it through the shared rate limiter with a
   send-log row written before and completed after, and updates the records
   and the membership ledger in one transaction. Up to
   SYNC_SENDERS_PER_LIST drains (on any workers and machines) serve one list
   at once, each with SYNC_REQUESTS_IN_FLIGHT_PER_SENDER threads, so several
   requests per token are in flight however slowly Pinterest answers.
4. A failed batch is retried with exponential backoff and jitter (429s
   honour Retry-After); an invalid token holds its users pending; the retry
   sweeper errors users still unsent 13 hours after they entered.

A worker that dies mid-batch simply lets its claim expire: the records are
due again after SYNC_LEASE_SECONDS and another drain sends them. Delivery is
at least once; ADD and REMOVE are idempotent at Pinterest.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import random
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection as db_connection
from django.db import reset_queries
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from audiences import leases
from audiences.bulk_sql import in_values
from audiences.models import LIST_TYPE_BITS, Audience, AudienceList, AudienceMember, Lease, SendLog, Step, SyncRecord
from integrations.crypto import TokenDecryptionError
from integrations.models import PinterestConnection
from integrations.pinterest import client as pinterest
from integrations.pinterest.identifiers import LIST_TYPES
from integrations.services import ConnectionUnusable, with_pinterest

logger = logging.getLogger(__name__)

LOOP_LEASE = "sender-loop"
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 30 * 60.0


# --- Waking and ticking -------------------------------------------------------------------


def wake(groups: set[tuple[int, str]] | None = None) -> None:
    """Called after users enter: hand over full batches now, and make sure a loop runs.

    `groups` are the (audience id, action) pairs that just received users;
    checking only those keeps entering cheap however large the backlog is.
    """
    if not settings.SYNC_SENDER_AUTOSTART:
        return
    dispatch(groups=groups)
    if not leases.is_live(LOOP_LEASE):
        _enqueue("audiences.tasks.sender_loop")


def _enqueue(func: str, *args) -> None:
    from django_q.tasks import async_task

    async_task(func, *args)


def due_groups(now: datetime) -> dict[tuple[int, str], int]:
    """(audience id, action) -> users due now, for lists whose connection is valid."""
    rows = (
        _claimable(now)
        .filter(audience__ad_account__connection__status=PinterestConnection.Status.VALID)
        .values_list("audience_id", "action")
        .annotate(n=Count("id"))
    )
    return {(audience_id, action): n for audience_id, action, n in rows}


def _claimable(now: datetime):
    return SyncRecord.objects.filter(
        state=SyncRecord.State.PENDING, audience__isnull=False, next_attempt_at__lte=now
    ).filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))


def due_counts(groups: set[tuple[int, str]], now: datetime, *, cap: int) -> dict[tuple[int, str], int]:
    """Users due now for each of `groups`, counted up to `cap` (an index range scan each)."""
    valid = set(
        Audience.objects.filter(
            pk__in={audience_id for audience_id, _ in groups},
            ad_account__connection__status=PinterestConnection.Status.VALID,
        ).values_list("pk", flat=True)
    )
    counts = {}
    for audience_id, action in groups:
        if audience_id in valid:
            n = _claimable(now).filter(audience_id=audience_id, action=action)[:cap].count()
            if n:
                counts[(audience_id, action)] = n
    return counts


def dispatch(*, groups: set[tuple[int, str]] | None = None, flush_waited_seconds: float | None = None) -> dict:
    """Start drains for lists with a full batch waiting.

    With `flush_waited_seconds`, a list whose longest-waiting user has
    waited that long is flushed too: everyone waiting goes out, in a
    partial batch if need be. Under a steady flow the oldest users ride in
    full batches long before that, so partial batches are only sent when
    users arrive more slowly than 1,900 per window.

    Returns the due counts it saw, so a caller can watch the same lists.
    """
    now = timezone.now()
    batch = settings.SYNC_BATCH_SIZE
    if groups is None:
        due = due_groups(now)
    else:
        due = due_counts(groups, now, cap=batch * settings.SYNC_SENDERS_PER_LIST)
    for (audience_id, action), n in due.items():
        flush_before = None
        if n < batch:
            if flush_waited_seconds is None or not _has_waited(audience_id, action, now, flush_waited_seconds):
                continue
            flush_before = now
        wanted = min(settings.SYNC_SENDERS_PER_LIST, math.ceil(n / batch))
        missing = wanted - leases.live_count(_drain_prefix(audience_id, action))
        if flush_before is not None and missing <= 0:
            # The running drains take full batches only; this tells them to
            # send what is left once those run out.
            _flush_request(audience_id, action, flush_before)
        for _ in range(max(0, missing)):
            _enqueue(
                "audiences.tasks.drain_list",
                audience_id,
                action,
                flush_before.isoformat() if flush_before else None,
            )
    return due


def _has_waited(audience_id: int, action: str, now: datetime, seconds: float) -> bool:
    """Has some user of this list been due for `seconds` or more?"""
    since = now - timedelta(seconds=seconds)
    return _claimable(now).filter(audience_id=audience_id, action=action, next_attempt_at__lte=since).exists()


LOOP_CHECK_SECONDS = 0.5


def sender_loop(*, seconds: float | None = None) -> None:
    """Check the lists every half second for `seconds`, then hand over to a successor task.

    Every window the loop looks for every list with due users; in between
    it checks only those, so checks stay cheap however large the backlog
    is. A list is handed to drains as soon as a full batch waits, and
    flushed once its longest-waiting user has waited a window less one
    check, so nobody waits much more than a window.

    Only one loop runs at a time (a lease renewed each check); a watchdog
    schedule starts one when none is live. The loop's runtime stays well
    below the task timeout, which stays below the broker's retry.
    """
    seconds = settings.SYNC_SENDER_LOOP_SECONDS if seconds is None else seconds
    window = settings.SYNC_WINDOW_SECONDS
    owner = uuid.uuid4().hex
    if not leases.acquire(LOOP_LEASE, owner, seconds=window * 3):
        return
    deadline = time.monotonic() + seconds
    next_tick = time.monotonic()
    watched: set[tuple[int, str]] = set()
    try:
        while True:
            if time.monotonic() >= next_tick:
                watched = set(due_groups(timezone.now()))
                next_tick += window
            if watched:
                dispatch(groups=watched, flush_waited_seconds=max(0.0, window - LOOP_CHECK_SECONDS))
            if time.monotonic() >= deadline:
                break
            leases.renew(LOOP_LEASE, owner, seconds=window * 3)
            reset_queries()  # see send_until_done
            time.sleep(max(0.0, min(LOOP_CHECK_SECONDS, next_tick - time.monotonic())))
    finally:
        leases.release(LOOP_LEASE, owner)
    if seconds > 0:
        _enqueue("audiences.tasks.sender_loop")


def run_once(*, flush: bool = True) -> int:
    """Send everything due now in this process (staff `sync_now`, tests). Returns users handled."""
    handled = 0
    flush_before = timezone.now() if flush else None
    for audience_id, action in due_groups(timezone.now()):
        handled += drain(audience_id, action, flush_before=flush_before)
    return handled


# --- Draining one list -----------------------------------------------------------------------


def _drain_prefix(audience_id: int, action: str) -> str:
    return f"drain:{audience_id}:{action}:"


def drain(
    audience_id: int,
    action: str,
    *,
    flush_before: datetime | None,
    budget_seconds: float = 60.0,
    threads: int = 1,
    linger_seconds: float = 0.0,
    hand_over: bool = False,
) -> int:
    """Send batches for one audience and operation until nothing more is due.

    With `threads` > 1 the drain keeps that many requests in flight: while
    Pinterest answers one batch (hundreds of milliseconds for 1,900 records)
    the next ones are claimed and waiting for their send slots, so a slow
    answer does not leave the token's rate budget unused. `linger_seconds`
    is how long a sender finding nothing due waits for more before it stops.
    With `hand_over`, a drain whose budget runs out while it is still
    sending starts its successor (tasks must end before django-q2's timeout).
    """
    owner = uuid.uuid4().hex
    prefix = _drain_prefix(audience_id, action)
    lease_name = next(
        (
            f"{prefix}{i}"
            for i in range(settings.SYNC_SENDERS_PER_LIST)
            if leases.acquire(f"{prefix}{i}", owner, seconds=_drain_lease_seconds())
        ),
        None,
    )
    if lease_name is None:
        return 0
    deadline = time.monotonic() + budget_seconds

    def send_until_done() -> int:
        handled = 0
        flush = flush_before
        idle_until = None
        while time.monotonic() < deadline:
            try:
                sent = send_batch(audience_id, action, flush_before=flush)
                if not sent and flush is None:
                    # No full batch left: flush what the loop asked for meanwhile.
                    flush = _flush_requested(audience_id, action)
                    sent = send_batch(audience_id, action, flush_before=flush) if flush else 0
            except ListHeld:
                break
            leases.renew(lease_name, owner, seconds=_drain_lease_seconds())
            # With DEBUG on (the local setup) Django keeps every query's SQL,
            # and a batch's SQL carries its 1,900 rows: without this a
            # long drain grows by megabytes per batch.
            reset_queries()
            if sent:
                handled += sent
                idle_until = None
                continue
            # Nothing due. While users are entering, the next full batch is
            # usually a moment away: wait a little before giving up the
            # drain, so the requests in flight do not dwindle to one.
            idle_until = idle_until or time.monotonic() + linger_seconds
            if time.monotonic() >= idle_until:
                break
            time.sleep(0.1)
        return handled

    def in_own_thread() -> int:
        try:
            return send_until_done()
        finally:
            db_connection.close()  # each thread has its own database connection

    try:
        if threads <= 1:
            handled = send_until_done()
        else:
            # The threads take turns in the interpreter; a sender whose send
            # time has come should not wait 5 ms turns (Python's default)
            # behind the others' JSON and SQL work.
            sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="drain") as pool:
                handled = sum(future.result() for future in [pool.submit(in_own_thread) for _ in range(threads)])
            _return_freed_memory()
    finally:
        leases.release(lease_name, owner)
    if hand_over and handled and time.monotonic() >= deadline:
        _enqueue("audiences.tasks.drain_list", audience_id, action, None)
    return handled


def _return_freed_memory() -> None:
    """Hand the drain threads' freed heap back to the system.

    Each thread allocates from its own glibc arena (its database connection,
    its batches); when the threads end, the memory is free but glibc keeps
    it, so every worker that ever ran a drain would stay at its peak.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _drain_lease_seconds() -> float:
    """A drain renews its lease with every batch; one whose worker died stops
    counting as running after this long (never longer than its records'
    claims), so the loop starts another."""
    return min(15, settings.SYNC_LEASE_SECONDS)


def _flush_request(audience_id: int, action: str, flush_before: datetime) -> None:
    Lease.objects.update_or_create(name=f"flush:{audience_id}:{action}", defaults={"expires_at": flush_before})


def _flush_requested(audience_id: int, action: str) -> datetime | None:
    return Lease.objects.filter(name=f"flush:{audience_id}:{action}").values_list("expires_at", flat=True).first()


def _table() -> str:
    return db_connection.ops.quote_name(SyncRecord._meta.db_table)


def _dt(value: datetime | None):
    return db_connection.ops.adapt_datetimefield_value(value)


_CLAIMABLE_SQL = (
    "state = 'pending' AND audience_id = %s AND action = %s AND next_attempt_at <= %s "
    "AND (lease_expires_at IS NULL OR lease_expires_at < %s)"
)


def claim(audience_id: int, action: str, *, owner: str, flush_before: datetime | None, now: datetime) -> list[tuple]:
    """Lease up to one batch of due records to `owner`; returns the claimed rows.

    Full batches go first, and a full batch is claimed whole or not at all
    (a partial batch is a request wasted); a partial batch only when
    flushing, and only of users who were waiting before the flush began (or
    are being retried). Oldest due first, in the order of the
    `syncrecord_due` index (no sort).
    """
    batch = settings.SYNC_BATCH_SIZE
    due = _claimable(now).filter(audience_id=audience_id, action=action)
    for _ in range(3):  # a full batch taken by another worker between the count and the claim: look again
        if due[:batch].count() >= batch:
            rows = _claim_rows(audience_id, action, owner=owner, now=now, entered_before=None, at_least=batch)
        elif flush_before is not None:
            rows = _claim_rows(audience_id, action, owner=owner, now=now, entered_before=flush_before, at_least=1)
        else:
            return []
        if rows:
            return rows
    return []


def _claim_rows(
    audience_id: int, action: str, *, owner: str, now: datetime, entered_before: datetime | None, at_least: int
) -> list[tuple]:
    """One statement claims and reads: UPDATE ... WHERE id IN (SELECT ... LIMIT n [FOR UPDATE SKIP LOCKED])
    RETURNING, with the claim conditions checked again on each row, so no
    record is ever claimed by two workers; nothing is claimed unless at
    least `at_least` rows can be."""
    batch = settings.SYNC_BATCH_SIZE
    condition, params = _CLAIMABLE_SQL, [audience_id, action, _dt(now), _dt(now)]
    if entered_before is not None:
        condition += " AND (entered_at <= %s OR attempts > 0)"
        params.append(_dt(entered_before))
    lease_until = _dt(now + timedelta(seconds=settings.SYNC_LEASE_SECONDS))
    returning = "RETURNING t.id, t.external_id, t.email_hash, t.idfa_hash, t.maid_hash, t.sent_types, t.attempts"
    if db_connection.vendor == "postgresql":
        # A materialised CTE: the planner must not re-run the locking subquery
        # per row (it did, on a fresh table with no statistics yet).
        sql = (
            f"WITH picked AS MATERIALIZED (SELECT id FROM {_table()} WHERE {condition} "
            "ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE {_table()} AS t SET lease_owner = %s, lease_expires_at = %s FROM picked "
            f"WHERE t.id = picked.id AND (SELECT count(*) FROM picked) >= %s {returning}"
        )
        arguments = [*params, batch, owner, lease_until, at_least]
    else:
        # SQLite runs one writer at a time: the claim conditions, checked again
        # on each row, keep a record from being claimed twice.
        picked = f"SELECT id FROM {_table()} WHERE {condition} ORDER BY next_attempt_at LIMIT %s"
        sql = (
            f"UPDATE {_table()} SET lease_owner = %s, lease_expires_at = %s "
            f"WHERE id IN ({picked}) AND {_CLAIMABLE_SQL} AND (SELECT count(*) FROM ({picked})) >= %s "
            f"{returning.replace('t.', '')}"
        )
        arguments = [owner, lease_until, *params, batch, audience_id, action, _dt(now), _dt(now),
                     *params, batch, at_least]
    with transaction.atomic(), db_connection.cursor() as cursor:
        cursor.execute(sql, arguments)
        return cursor.fetchall()


@dataclass(slots=True)
class _Claimed:
    id: int
    external_id: str
    hashes: dict[str, str]
    sent_types: int
    attempts: int
    failure: Exception | None = None
    wanted_types: int = 0  # a bit per list type the record has an identifier for

    @classmethod
    def from_row(cls, row: tuple) -> _Claimed:
        record_id, external_id, email, idfa, maid, sent_types, attempts = row
        wanted = (LIST_TYPE_BITS["EMAIL"] if email else 0) | (LIST_TYPE_BITS["IDFA"] if idfa else 0) | (
            LIST_TYPE_BITS["MAID"] if maid else 0
        )
        return cls(record_id, external_id, {"EMAIL": email, "IDFA": idfa, "MAID": maid}, sent_types, attempts,
                   wanted_types=wanted)

    @property
    def done(self) -> bool:
        return self.sent_types & self.wanted_types == self.wanted_types


@dataclass
class _Outcome:
    added: list[tuple[str, str, str]] = field(default_factory=list)  # (external_id, list_type, hash)
    removed: list[tuple[str, str]] = field(default_factory=list)  # (external_id, list_type)


def send_batch(audience_id: int, action: str, *, flush_before: datetime | None) -> int:
    """Claim one batch, send it, record the outcome. Returns the number of records handled."""
    now = timezone.now()
    owner = uuid.uuid4().hex
    rows = claim(audience_id, action, owner=owner, flush_before=flush_before, now=now)
    if not rows:
        return 0
    records = [_Claimed.from_row(row) for row in rows]
    audience = Audience.objects.select_related("ad_account__connection").get(pk=audience_id)
    outcome = _Outcome()
    try:
        for list_type in LIST_TYPES:
            _send_list_type(audience, action, list_type, records, outcome)
    except ConnectionUnusable as exc:
        for record in records:
            if not record.done:
                record.failure = exc
    _finish(audience, action, owner, records, outcome)
    if any(isinstance(r.failure, ConnectionUnusable | TokenDecryptionError) for r in records if r.failure):
        raise ListHeld()
    return len(records)


class ListHeld(Exception):
    """The list's connection cannot be used: its users wait until the workspace reconnects."""


def _send_list_type(audience: Audience, action: str, list_type: str, records: list[_Claimed], outcome: _Outcome) -> None:
    bit = LIST_TYPE_BITS[list_type]
    todo = [r for r in records if r.hashes[list_type] and not r.sent_types & bit]
    if not todo:
        return
    extra = _ledger_hashes(audience, list_type, todo) if action == Step.Action.REMOVE else {}
    for chunk, hashes in _chunks(todo, list_type, extra):
        try:
            _send_chunk(audience, action, list_type, hashes)
        except ConnectionUnusable:
            raise
        except (pinterest.PinterestError, TokenDecryptionError, _ListBusy) as exc:
            for record in chunk:
                record.failure = exc
            continue
        for record in chunk:
            record.sent_types |= bit
            if action == Step.Action.ADD:
                outcome.added.append((record.external_id, list_type, record.hashes[list_type]))
            else:
                outcome.removed.append((record.external_id, list_type))


def _ledger_hashes(audience: Audience, list_type: str, records: list[_Claimed]) -> dict[str, set[str]]:
    """Every identifier ever added for these users: a remove sends them all."""
    extra: dict[str, set[str]] = {}
    wanted, param = in_values("external_id", [r.external_id for r in records])
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id, identifier_hash FROM {_ledger_table()} "
            f"WHERE audience_id = %s AND list_type = %s AND is_member AND {wanted}",
            [audience.pk, list_type, param],
        )
        for external_id, identifier_hash in cursor.fetchall():
            extra.setdefault(external_id, set()).add(identifier_hash)
    return extra


def _ledger_table() -> str:
    return db_connection.ops.quote_name(AudienceMember._meta.db_table)


def _chunks(records: list[_Claimed], list_type: str, extra: dict[str, set[str]]):
    """Split into requests of at most SYNC_BATCH_SIZE identifiers, never splitting a user."""
    limit = settings.SYNC_BATCH_SIZE
    if not extra:  # one identifier per user (every add): plain slices
        for start in range(0, len(records), limit):
            chunk = records[start:start + limit]
            yield chunk, [record.hashes[list_type] for record in chunk]
        return
    chunk: list[_Claimed] = []
    hashes: list[str] = []
    for record in records:
        mine = [record.hashes[list_type]] + sorted(extra.get(record.external_id, set()) - {record.hashes[list_type]})
        if hashes and len(hashes) + len(mine) > limit:
            yield chunk, hashes
            chunk, hashes = [], []
        chunk.append(record)
        hashes.extend(mine[:limit])
    if chunk:
        yield chunk, hashes


class _ListBusy(Exception):
    """Another worker is creating this customer list right now; try again shortly."""

    retry_after = 1.0


def _send_chunk(audience: Audience, action: str, list_type: str, hashes: list[str]) -> None:
    """One request to Pinterest for one customer list, logged before and after."""
    customer_list = AudienceList.objects.filter(audience=audience, list_type=list_type).first()
    if customer_list is None or not customer_list.pinterest_customer_list_id:
        if action == Step.Action.REMOVE:
            return  # no list yet: nobody was ever added through it
        _create_list(audience, list_type, hashes)
        return
    operation = "ADD" if action == Step.Action.ADD else "REMOVE"
    _logged_call(
        audience,
        operation,
        list_type,
        customer_list.pinterest_customer_list_id,
        len(hashes),
        lambda client: client.customer_list_update(
            audience.ad_account.pinterest_id,
            customer_list.pinterest_customer_list_id,
            operation=operation,
            records=hashes,
        ),
    )


def _create_list(audience: Audience, list_type: str, hashes: list[str]) -> None:
    """The first batch of a new audience creates its customer list (Pinterest needs records to create one)."""
    lease_name = f"create-list:{audience.pk}:{list_type}"
    owner = uuid.uuid4().hex
    if not leases.acquire(lease_name, owner, seconds=settings.SYNC_LEASE_SECONDS):
        # Another worker is creating the list (an audience's first seconds,
        # when several drains start at once): wait for it, keeping this
        # batch claimed, rather than back off and miss the first second's requests.
        _send_when_list_exists(audience, list_type, hashes)
        return
    try:
        existing = AudienceList.objects.filter(audience=audience, list_type=list_type).first()
        if existing and existing.pinterest_customer_list_id:
            return _send_chunk(audience, Step.Action.ADD, list_type, hashes)
        name = f"{audience.name} · {list_type}"
        adopted = _find_list_created_by_a_lost_request(audience, list_type, name)
        if adopted is not None:
            _store_list(audience, list_type, adopted)
            return _send_chunk(audience, Step.Action.ADD, list_type, hashes)
        created = _logged_call(
            audience,
            "CREATE_LIST",
            list_type,
            "",
            len(hashes),
            lambda client: client.customer_list_create(
                audience.ad_account.pinterest_id, name=name, list_type=list_type, records=hashes
            ),
        )
        _store_list(audience, list_type, created)
    finally:
        leases.release(lease_name, owner)


LIST_CREATE_WAIT_SECONDS = 10.0


def _send_when_list_exists(audience: Audience, list_type: str, hashes: list[str]) -> None:
    deadline = time.monotonic() + LIST_CREATE_WAIT_SECONDS
    while True:
        creating = leases.is_live(f"create-list:{audience.pk}:{list_type}")
        if AudienceList.objects.filter(audience=audience, list_type=list_type).exclude(
            pinterest_customer_list_id=""
        ).exists():
            return _send_chunk(audience, Step.Action.ADD, list_type, hashes)
        if not creating or time.monotonic() > deadline:
            raise _ListBusy()  # the creator gave up (its request failed): back off like it
        time.sleep(0.05)


def _store_list(audience: Audience, list_type: str, customer_list) -> None:
    with transaction.atomic():
        AudienceList.objects.update_or_create(
            audience=audience,
            list_type=list_type,
            defaults={"pinterest_customer_list_id": customer_list.id, "pinterest_status": customer_list.status},
        )
        Audience.objects.filter(pk=audience.pk, status=Audience.Status.DRAFT).update(
            status=Audience.Status.WAITING_FOR_LIST
        )


def _find_list_created_by_a_lost_request(audience: Audience, list_type: str, name: str):
    """A create whose answer was lost (worker killed, timeout) may have made the list at Pinterest.

    Creating again would split the audience over two lists, so when the send
    log shows such a create, look for the list by its name first.
    """
    # In flight when its worker died, or no clear answer (timeout, 5xx). A 429 created nothing.
    lost = SendLog.objects.filter(audience=audience, operation="CREATE_LIST", list_type=list_type).filter(
        Q(outcome=SendLog.Outcome.STARTED)
        | Q(outcome=SendLog.Outcome.RETRY, http_status__isnull=True)
        | Q(outcome=SendLog.Outcome.RETRY, http_status__gte=500)
    ).exists()
    if not lost:
        return None
    ad_account_id = audience.ad_account.pinterest_id
    bookmark = None
    for _ in range(40):  # up to 10,000 lists
        page = _logged_call(
            audience, "FIND_LIST", list_type, "", 0,
            lambda client: client.customer_lists_page(ad_account_id, bookmark=bookmark, page_size=250),
        )
        found = next((l for l in page.items if l.name == name), None)
        if found is not None or not page.bookmark:
            return found
        bookmark = page.bookmark
    return None


def _logged_call(audience: Audience, operation: str, list_type: str, list_id: str, size: int, call):
    log = SendLog.objects.create(
        audience=audience, operation=operation, list_type=list_type, pinterest_customer_list_id=list_id, size=size
    )
    started = time.monotonic()
    try:
        result = with_pinterest(audience.ad_account.connection, call)
    except (pinterest.PinterestError, ConnectionUnusable, TokenDecryptionError) as exc:
        if isinstance(exc, ConnectionUnusable | pinterest.AuthError | TokenDecryptionError):
            outcome = SendLog.Outcome.AUTH
        elif isinstance(exc, pinterest.RateLimited | pinterest.TransientError):
            outcome = SendLog.Outcome.RETRY
        else:
            outcome = SendLog.Outcome.FAILED
        SendLog.objects.filter(pk=log.pk).update(
            outcome=outcome,
            http_status=getattr(exc, "status", None),
            duration_ms=int((time.monotonic() - started) * 1000),
            error=str(exc)[:1000],
            pinterest_request_id=getattr(exc, "request_id", "") or "",
            finished_at=timezone.now(),
        )
        raise
    SendLog.objects.filter(pk=log.pk).update(
        outcome=SendLog.Outcome.OK,
        http_status=200,
        pinterest_customer_list_id=getattr(result, "id", list_id) if operation == "CREATE_LIST" else list_id,
        duration_ms=int((time.monotonic() - started) * 1000),
        finished_at=timezone.now(),
    )
    return result


# --- Recording the outcome ---------------------------------------------------------------------------


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; never sooner than Pinterest's Retry-After."""
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    delay = delay * random.uniform(0.5, 1.0)
    return max(delay, retry_after or 0.0)


def _finish(audience: Audience, action: str, owner: str, records: list[_Claimed], outcome: _Outcome) -> None:
    """Record every claimed record's outcome and the ledger, in one transaction."""
    now = timezone.now()
    groups: dict[tuple, list[int]] = {}
    waits: dict[tuple, float] = {}
    for record in records:
        groups.setdefault(_final_fields(record, now, waits), []).append(record.id)
    with transaction.atomic(), db_connection.cursor() as cursor:
        _write_ledger(audience, outcome, now)
        for key, ids in groups.items():
            fields = dict(key)
            count_attempt = fields.pop("_count_attempt", False)
            assignments = [f"{column} = %s" for column in fields]
            values = [_dt(v) if isinstance(v, datetime) else v for v in fields.values()]
            if count_attempt:
                assignments.append("attempts = attempts + 1")
            ids_clause, ids_param = in_values("id", ids)
            # lease_owner is checked: a batch whose lease expired (and was
            # claimed again elsewhere) must not overwrite the newer outcome.
            cursor.execute(
                f"UPDATE {_table()} SET {', '.join(assignments)}, lease_owner = '', lease_expires_at = NULL "
                f"WHERE lease_owner = %s AND {ids_clause}",
                [*values, owner, ids_param],
            )


def _final_fields(record: _Claimed, now: datetime, waits: dict[tuple, float]) -> tuple:
    """The fields a record ends the batch with, as a hashable key to group updates."""
    if record.done:
        return (("state", SyncRecord.State.SYNCED), ("synced_at", now), ("last_error", ""),
                ("sent_types", record.sent_types))
    exc = record.failure
    reason = str(exc)[:1000] if exc else "Not sent."
    if isinstance(exc, ConnectionUnusable | TokenDecryptionError):
        # Held until the workspace reconnects; not an attempt of the user's.
        return (("last_error", reason), ("sent_types", record.sent_types), ("next_attempt_at", now))
    if isinstance(exc, pinterest.RequestError):
        return (("state", SyncRecord.State.ERRORED), ("errored_at", now), ("last_error", reason),
                ("sent_types", record.sent_types), ("_count_attempt", True))
    retry_after = getattr(exc, "retry_after", None)
    # One jittered wait per failure and attempt count, so a failed batch
    # updates in a few statements rather than one per user.
    key = (id(exc), record.attempts)
    if key not in waits:
        waits[key] = backoff_seconds(min(record.attempts + 1, 20), retry_after)
    wait = waits[key]
    return (("last_error", reason), ("sent_types", record.sent_types),
            ("next_attempt_at", now + timedelta(seconds=round(wait, 1))), ("_count_attempt", True))


def _write_ledger(audience: Audience, outcome: _Outcome, now: datetime) -> None:
    if outcome.added:
        # One prepared upsert (SQLite 3.24+ and PostgreSQL share the syntax);
        # bulk_create spent most of a batch compiling SQL for ~50 rows at a time.
        table = db_connection.ops.quote_name(AudienceMember._meta.db_table)
        at = db_connection.ops.adapt_datetimefield_value(now)
        sql = (
            f"INSERT INTO {table} (audience_id, external_id, list_type, identifier_hash, is_member, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (audience_id, external_id, list_type, identifier_hash) "
            "DO UPDATE SET is_member = excluded.is_member, updated_at = excluded.updated_at"
        )
        with db_connection.cursor() as cursor:
            if db_connection.vendor == "postgresql":
                # One statement over arrays: psycopg's executemany costs a round trip per row.
                cursor.execute(
                    f"INSERT INTO {table} (audience_id, external_id, list_type, identifier_hash, is_member, updated_at) "
                    "SELECT %s, e, t, h, true, %s FROM unnest(%s::text[], %s::text[], %s::text[]) AS x(e, t, h) "
                    "ON CONFLICT (audience_id, external_id, list_type, identifier_hash) "
                    "DO UPDATE SET is_member = excluded.is_member, updated_at = excluded.updated_at",
                    [audience.pk, at, *map(list, zip(*outcome.added))],
                )
            else:
                cursor.executemany(sql, [(audience.pk, e, t, h, True, at) for e, t, h in outcome.added])
    by_type: dict[str, list[str]] = {}
    for external_id, list_type in outcome.removed:
        by_type.setdefault(list_type, []).append(external_id)
    for list_type, ids in by_type.items():
        wanted, param = in_values("external_id", ids)
        with db_connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_ledger_table()} SET is_member = %s, updated_at = %s "
                f"WHERE audience_id = %s AND list_type = %s AND {wanted}",
                [False, _dt(now), audience.pk, list_type, param],
            )
