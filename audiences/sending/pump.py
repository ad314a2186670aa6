"""The request pump: one long-running task that keeps requests in flight for every due list.

A pump holds a lease on a slot (`SYNC_PUMPS` slots; lists are shared out
among them by their Pinterest user), watches the work list (DueList) every
tick, reads the due state of the lists that changed, asks `scheduling` what
to send, and hands each request to a pool of sender threads. The threads
mostly wait on Pinterest and on the shared rate limiter, so one pump serves
many lists and Pinterest users at once, each user within its own budget.

Waking is a row, not a task: entering touches the list's DueList row as it
commits its users, and starts a pump only when none holds the slot (at most one
start per slot in flight, gated by a short lease). A pump hands over to a
successor before django-q2's timeout: it enqueues the successor a few
seconds early, releases its slot at its deadline (the successor takes it
within a tick), then lets its requests in flight finish. A pump whose
worker dies loses its slot when the lease lapses; the watchdog schedule (or
the next entry) starts another, and the records it had claimed are due
again when their claims lapse.
"""

from __future__ import annotations

import contextvars
import ctypes
import logging
import queue
import sys
import threading
import time
import uuid
import zlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, reset_queries
from django.db import connection as db_connection
from django.utils import timezone

from audiences import leases
from audiences.models import Audience
from audiences.sending import delivery, records, scheduling
from audiences.sending import pinterest as to_pinterest
from audiences.sending.scheduling import Job, ListKey, ListState

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.1
SLOT_LEASE_SECONDS = 15.0
START_GATE_SECONDS = 30.0
HANDOVER_LEAD_SECONDS = 3.0
HANDOVER_WAIT_SECONDS = 10.0
IDLE_FORGET = timedelta(minutes=1)
IDLE_STOP_SECONDS = 60.0
# A partial batch goes once its longest-waiting user has waited the window less
# this, so that with the request's own time it reaches Pinterest within the window.
FLUSH_EARLY_SECONDS = 0.5
# While the database cannot be reached (a restart, a failover), how long to wait between attempts.
DATABASE_RETRY_SECONDS = 1.0
# The database errors that mean "cannot reach it now", not a fault in what was asked.
DATABASE_UNREACHABLE = (OperationalError, InterfaceError)
# How long an entry call trusts another call's finding that every pump slot is held.
WAKE_RECHECK_SECONDS = 1.0


def slot_of(token: str) -> int:
    return zlib.crc32(token.encode()) % max(1, settings.SYNC_PUMPS)


def _slot_lease(slot: int) -> str:
    return f"pump:{slot}"


def _start_gate(slot: int) -> str:
    return f"pump-start:{slot}"


# --- Waking ------------------------------------------------------------------------------------


# When this process last saw every slot held by a live pump (time.monotonic()).
_seen_running = -1e9


def wake() -> None:
    """After users were committed as pending (and their lists touched): start a pump where none runs.

    Calls that follow within a second of a check that found every slot
    held ask nothing: the pumps see the touched lists on their next tick,
    and should one of them have died meanwhile, the next call a second
    later (or the watchdog) starts another.
    """
    global _seen_running
    if not settings.SYNC_SENDER_AUTOSTART or time.monotonic() - _seen_running < WAKE_RECHECK_SECONDS:
        return
    if ensure_running() == 0:  # each slot held, or its pump starting
        _seen_running = time.monotonic()


def ensure_running() -> int:
    """Enqueue a pump for each slot that has none live and none starting. Returns how many were enqueued."""
    started = 0
    for slot in range(settings.SYNC_PUMPS):
        if leases.is_live(_slot_lease(slot)):
            continue
        if leases.acquire(_start_gate(slot), uuid.uuid4().hex, seconds=START_GATE_SECONDS):
            _enqueue(slot)
            started += 1
    return started


def alive() -> int:
    """How many pump slots are held right now."""
    return sum(leases.is_live(_slot_lease(slot)) for slot in range(settings.SYNC_PUMPS))


def _enqueue(slot: int) -> None:
    from django_q.tasks import async_task

    async_task("audiences.tasks.sender_pump", slot)


# --- Running --------------------------------------------------------------------------------------


def run(slot: int, *, seconds: float | None = None) -> int:
    """Pump for `seconds` (SYNC_PUMP_SECONDS) holding the slot, then hand over. Returns users handled."""
    seconds = settings.SYNC_PUMP_SECONDS if seconds is None else seconds
    owner = uuid.uuid4().hex
    name = _slot_lease(slot)
    give_up = time.monotonic() + HANDOVER_WAIT_SECONDS
    while not leases.acquire(name, owner, seconds=SLOT_LEASE_SECONDS):
        if time.monotonic() > give_up:
            return 0  # another pump holds the slot
        time.sleep(TICK_SECONDS / 2)
    leases.release_any(_start_gate(slot))
    pump = Pump(slot, owner)
    try:
        handled, successor = pump.loop(seconds)
    finally:
        try:
            leases.release(name, owner)  # the successor takes the slot now
        except DATABASE_UNREACHABLE:
            db_connection.close()  # the lease lapses by itself
        pump.stop()
    if successor:
        logger.debug("pump %s handed over after %d users", slot, handled)
    return handled


class Pump:
    def __init__(self, slot: int, owner: str):
        self.slot = slot
        self.owner = owner
        self.lists: dict[ListKey, ListState] = {}
        self.done: queue.Queue[tuple[Job, delivery.Delivered | None]] = queue.Queue()
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.threads: list[threading.Thread] = []
        self.handled = 0
        # A sender whose send time has come should not wait 5 ms turns (Python's
        # default) in the interpreter behind the other threads' JSON and SQL work.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))

    # -- the loop --

    def loop(self, seconds: float) -> tuple[int, bool]:
        started = time.monotonic()
        deadline = started + seconds
        successor = False
        last_poll: datetime | None = None
        next_poll = next_full_read = next_renewal = 0.0
        idle_since = time.monotonic()
        while time.monotonic() < deadline:
            try:
                now = timezone.now()
                # The work list is read once a tick, however often finished requests wake the loop.
                if time.monotonic() >= next_poll:
                    full = time.monotonic() >= next_full_read
                    self._read_work_list(None if full else last_poll)
                    # Overlap the polls by a second: a row touched by a clock slightly behind is still seen.
                    last_poll = now - timedelta(seconds=1)
                    next_poll = time.monotonic() + TICK_SECONDS
                    if full:
                        next_full_read = time.monotonic() + settings.SYNC_WINDOW_SECONDS
                self._collect()
                self._refresh(now)
                for job in scheduling.next_jobs(
                    self.lists, now=now, window=timedelta(seconds=max(0.0, settings.SYNC_WINDOW_SECONDS - FLUSH_EARLY_SECONDS)),
                    batch=settings.SYNC_BATCH_SIZE, per_token=settings.SYNC_REQUESTS_IN_FLIGHT_PER_TOKEN,
                ):
                    self._submit(job)
                if self.lists or self._in_flight():
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > IDLE_STOP_SECONDS:
                    break  # nothing to send for a while: the next entry starts a pump again
                if not successor and (self.lists or self._in_flight()) and time.monotonic() >= deadline - HANDOVER_LEAD_SECONDS:
                    successor = leases.acquire(_start_gate(self.slot), self.owner, seconds=START_GATE_SECONDS)
                    if successor:
                        _enqueue(self.slot)
                if time.monotonic() >= next_renewal:
                    if not leases.renew(_slot_lease(self.slot), self.owner, seconds=SLOT_LEASE_SECONDS):
                        # The slot lapsed (the database was away longer than the lease) and
                        # another pump holds it now: leave the slot's lists to that pump.
                        logger.warning("pump %s lost its slot to another pump; stopping", self.slot)
                        break
                    next_renewal = time.monotonic() + 1.0
                reset_queries()  # with DEBUG on, Django would keep every query's SQL
                self._wait(TICK_SECONDS)
            except DATABASE_UNREACHABLE as exc:
                # A database restart or failover: every connection of this process is gone.
                # Reconnect on the next tick and read the whole work list again; the
                # requests in flight finish (or their claims lapse and they are sent again).
                self._database_lost(exc)
                next_poll = next_full_read = 0.0
                for state in self.lists.values():
                    state.stale = True
        return self.handled, successor

    def _database_lost(self, exc: Exception) -> None:
        logger.warning("pump %s: the database cannot be reached (%s); trying again in %.0f s", self.slot,
                       type(exc).__name__, DATABASE_RETRY_SECONDS)
        db_connection.close()
        time.sleep(DATABASE_RETRY_SECONDS)

    def _read_work_list(self, since: datetime | None) -> None:
        """Touched lists become stale. A full read (`since` None) also re-reads each list's
        Pinterest user and connection health, and drops lists no longer on the work list."""
        touched = {(audience_id, action): at for audience_id, action, at in records.lists_touched_since(since)}
        keys = set(touched)
        look_up = {audience_id for audience_id, action in keys if since is None or (audience_id, action) not in self.lists}
        # Only lists new to this pump (or all, on a full read) need their ad account and connection.
        ad_accounts = {
            audience.pk: audience.ad_account
            for audience in Audience.objects.filter(pk__in=look_up).select_related("ad_account__connection")
        } if look_up else {}
        for key in keys:
            ad_account = ad_accounts.get(key[0])
            if ad_account is not None:
                token = to_pinterest.budget_of(ad_account.connection)
                if slot_of(token) != self.slot:
                    continue  # another pump's list
                state = self.lists.setdefault(key, ListState(key, token))
                # Users of an invalid connection or of an ad account it can no longer see wait.
                state.token, state.usable = token, ad_account.connection.is_usable and ad_account.available
            if key in self.lists:
                state = self.lists[key]
                # The polls overlap by a second, so a list touched once comes back ten polls running:
                # only a new touch (or a full read) means its counts may have changed. Re-reading every
                # trickling list each tick cost two queries per list ten times a second.
                if since is None or state.touched_at != touched[key]:
                    state.stale = True
                state.touched_at = touched[key]
        if since is None:
            for key in set(self.lists) - keys:
                if not self.lists[key].in_flight:
                    del self.lists[key]

    def _refresh(self, now: datetime) -> None:
        cap = settings.SYNC_BATCH_SIZE * settings.SYNC_REQUESTS_IN_FLIGHT_PER_TOKEN
        for key, state in list(self.lists.items()):
            if not state.stale and not (state.oldest_due and state.due == 0 and state.oldest_due <= now):
                continue
            state.oldest_due, state.due = records.due_state(key[0], key[1], now=now, cap=cap)
            state.stale = False
            if state.oldest_due is None and not state.in_flight:
                if records.list_forget_if_idle(key[0], key[1], idle_since=now - IDLE_FORGET):
                    del self.lists[key]

    # -- the sender threads --

    def _submit(self, job: Job) -> None:
        state = self.lists[job.key]
        logger.debug("pump %s: audience %s %s, %d due, waited %.1f s", self.slot, job.key[0], job.key[1], state.due,
                     (timezone.now() - state.oldest_due).total_seconds())
        state.in_flight += 1
        state.served_at = timezone.now()
        # Threads are started as requests need them, up to SYNC_PUMP_THREADS.
        if len(self.threads) < settings.SYNC_PUMP_THREADS and self._in_flight() > len(self.threads):
            # The thread logs with the pump's task id (contextvars are not inherited by threads).
            context = contextvars.copy_context()
            thread = threading.Thread(target=context.run, args=(self._work,), name=f"pump-{self.slot}-{len(self.threads)}",
                                      daemon=True)
            self.threads.append(thread)
            thread.start()
        self.jobs.put(job)

    def _work(self) -> None:
        connected = False
        try:
            while (job := self.jobs.get()) is not None:
                result = None
                try:
                    if not connected:
                        _relax_commit_durability()  # per connection: again after a reconnect
                        connected = True
                    result = delivery.send_batch(job.key[0], job.key[1], at_least=job.at_least)
                except DATABASE_UNREACHABLE as exc:
                    # Its claims lapse and the batch is sent again (ADD and REMOVE are idempotent).
                    logger.warning("sending a batch of audience %s: the database cannot be reached (%s)", job.key[0],
                                   type(exc).__name__)
                    db_connection.close()  # the next batch connects again
                    connected = False
                except Exception:  # noqa: BLE001 - a batch's failure must not stop the pump; its claims lapse
                    logger.exception("sending a batch of audience %s failed", job.key[0])
                finally:
                    reset_queries()
                    self.done.put((job, result))
        finally:
            db_connection.close()  # each thread has its own database connection

    def _collect(self) -> None:
        while True:
            try:
                job, result = self.done.get_nowait()
            except queue.Empty:
                return
            state = self.lists.get(job.key)
            if state is None:
                continue
            state.in_flight -= 1
            state.stale = True
            if result is not None:
                self.handled += result.handled
                if result.held:
                    state.usable = False  # until the connection is valid again (next full read)

    def _in_flight(self) -> int:
        return sum(state.in_flight for state in self.lists.values())

    def _wait(self, seconds: float) -> None:
        """Sleep until the tick ends or a request finishes, whichever is first."""
        try:
            item = self.done.get(timeout=seconds)
        except queue.Empty:
            return
        self.done.put(item)

    def stop(self) -> None:
        """Let the requests in flight finish, then end the threads and give their memory back."""
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()
        self._collect()
        _return_freed_memory()


def _relax_commit_durability() -> None:
    """On PostgreSQL, a sender thread's commits do not wait for the WAL to reach the disk.

    Safe for what a sender writes, and only for that: a commit lost in a
    database crash leaves its records claimed, so they are due again when
    the claim lapses and are sent again (delivery is at least once; ADD and
    REMOVE are idempotent at Pinterest), and a lost send-log row or lease is
    history. Entering users keeps full durability: an accepted user is never
    lost; so does storing a refreshed token (integrations.services).
    """
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO OFF")


def _return_freed_memory() -> None:
    """Each sender thread allocates from its own glibc arena; give the freed heap back when they end."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


# --- For staff and tests ----------------------------------------------------------------------------


def send_due_now() -> int:
    """Send everything due now in this process, list by list (`sync_now`, tests). Returns users handled."""
    handled = 0
    now = timezone.now()
    for audience_id, action, _ in records.lists_touched_since(None):
        while True:
            result = delivery.send_batch(audience_id, action, at_least=1)
            handled += result.handled
            if not result.handled or result.held:
                break
        records.list_forget_if_idle(audience_id, action, idle_since=now)
    return handled
