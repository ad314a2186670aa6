"""A per-token rate limit shared by every process and machine.

Pinterest allows about 7 requests per second per user token (Braze, API-NOTES
5.3). Every request made with a token first takes a send time here, at the
moment it leaves: the send times of one token form an increasing sequence in
which time k is at least `window` (one second plus a small margin) after
time k-rate, so no rolling second ever sees rate+1 requests, yet every second
can use all `rate` of them (spacing requests evenly at 1/rate loses a good
part of the budget to jitter). Consecutive times are also half an even
spacing apart, so a second's requests never reach Pinterest as one burst.

A caller asks for the token; if the next free time is later, it learns how
long to wait, sleeps, and asks again. Nothing is reserved ahead, so a
caller that wakes late (a busy machine) simply sends late: it neither
crowds the next second nor leaves a slot unused. The margin covers what
happens after the time is taken: building the last bytes, the network, and
Pinterest taking the request in.

Taking is atomic across processes: a Lua script when Redis is configured; a
row per token with a row lock on PostgreSQL; and, with the embedded SQLite
(one machine by nature), a small file per token under an exclusive `flock`,
so taking a time never waits behind the database's single write lock.

A 429 pushes the token's next time past the wait (Retry-After when present,
else one second), so every worker pauses together.

Times are read from the shared store's clock (Redis TIME, PostgreSQL's
clock_timestamp(); the local clock for the one-machine SQLite file), so
machines whose clocks disagree still share one timeline. Times or pauses
further ahead than MAX_AHEAD_SECONDS can only come from a clock that jumped
(or a test that travelled in time) and are ignored rather than slept on.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db import transaction

from integrations import clock
from integrations.pinterest import ratelimit_redis
from integrations.models import PinterestConnection, RateLimitWindow

HISTORY_SECONDS = 5.0
# No legitimate send time or pause lies this far ahead.
MAX_AHEAD_SECONDS = 600.0
# A caller that wakes this close to its time takes it (sleep is not that precise).
EARLY_GRANT_SECONDS = 0.002
# A caller that got its time this much after asking records the difference.
LATE_SHIFT_SECONDS = 0.005
# A store clock that falls this far behind real time while a caller waits is
# not moving (a test froze it): the caller sends rather than wait forever.
STALLED_CLOCK_SECONDS = 0.5


def key_for_user(pinterest_user_id: str) -> str:
    """Pinterest limits per user and app: every token of one user shares a budget."""
    return f"pinterest-user:{pinterest_user_id}"


def key_for(connection: PinterestConnection) -> str:
    """The budget of the connection's Pinterest user, shared by every workspace and step that uses it."""
    return key_for_user(connection.pinterest_user_id or f"connection-{connection.pk}")


def _window() -> float:
    return 1.0 + settings.SYNC_RATE_LIMIT_MARGIN_SECONDS


def _spacing(rate: int) -> float:
    """The least time between two requests with one token: half an even spacing.

    Without it, a backlog sends each second's 7 requests in one burst, and
    Pinterest, answering them together, takes in the last of them later than
    they left; the next second's first request then lands less than a second
    after it. Half an even spacing spreads a burst over less than half a
    second, so every second's budget is still usable in full.
    """
    return _window() / (2 * rate)


def next_slot(
    recent: list[float], *, now: float, paused_until: float, rate: int, window: float, spacing: float = 0.0
) -> float:
    """The earliest send time allowed after the slots in `recent` (sorted)."""
    slot = max(now, paused_until)
    if recent:
        slot = max(slot, recent[-1] + spacing)
    if len(recent) >= rate:
        slot = max(slot, recent[-rate] + window)
    return slot


def take(
    recent: list[float],
    *,
    now: float,
    paused_until: float,
    rate: int,
    window: float,
    spacing: float,
    force: bool = False,
) -> tuple[float, float]:
    """Take a send time now if one is free: (0, the time recorded in `recent`); else (seconds to wait, 0).

    `force` records a request already made, whatever the limit says.
    """
    slot = next_slot(recent, now=now, paused_until=paused_until, rate=rate, window=window, spacing=spacing)
    if not force and slot > now + EARLY_GRANT_SECONDS:
        return slot - now, 0.0
    taken = now if force else slot
    recent.append(taken)
    recent.sort()
    return 0.0, taken


def shifted(recent: list[float], taken: float, by: float) -> list[float]:
    """`recent` with the time `taken` moved `by` seconds later (its request left late)."""
    # Stored times may be rounded (Redis keeps 14 digits); sent times are 70+ ms apart.
    return sorted(t + by if abs(t - taken) < 0.001 else t for t in recent)


def _live(recent: list[float], paused_until: float, now: float) -> tuple[list[float], float]:
    """The state that still matters at `now`: recent slots, sorted, and the pause."""
    horizon = now + MAX_AHEAD_SECONDS
    recent = sorted(t for t in recent if now - HISTORY_SECONDS < t <= horizon)
    return recent, (paused_until if paused_until <= horizon else 0.0)


def _database_now() -> float:
    from django.db import connection

    if connection.vendor == "postgresql":
        # One clock for every machine that shares this database.
        with connection.cursor() as cursor:
            cursor.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
            return float(cursor.fetchone()[0])
    return clock.now()


def _locked_row(key: str):
    row = RateLimitWindow.objects.select_for_update().filter(key=key).first()
    if row is None:
        # First use of this token. Two processes may create the row at once:
        # get_or_create settles that, then lock it like everyone else does.
        RateLimitWindow.objects.get_or_create(key=key)
        row = RateLimitWindow.objects.select_for_update().get(key=key)
    return row


def _take_in_database(key: str, rate: int, window: float, force: bool) -> tuple[float, float, float]:
    with transaction.atomic():
        row = _locked_row(key)
        now = _database_now()
        recent, paused_until = _live(row.recent, row.paused_until, now)
        wait, taken = take(recent, now=now, paused_until=paused_until, rate=rate, window=window,
                           spacing=_spacing(rate), force=force)
        if not wait:
            row.recent = recent[-rate * 2:]
            row.paused_until = paused_until
            row.save(update_fields=["recent", "paused_until"])
    return wait, now, taken


def _shift_in_database(key: str, taken: float, by: float) -> None:
    with transaction.atomic():
        row = _locked_row(key)
        row.recent = shifted(row.recent, taken, by)
        row.save(update_fields=["recent"])


def _state_file(key: str) -> str:
    return _state_file_in(str(settings.DATABASES["default"]["NAME"]), key)


@lru_cache(maxsize=256)
def _state_file_in(database: str, key: str) -> str:
    # Worked out (and its folder made) once per token, not for each of a request's takes.
    folder = Path(database + ".ratelimit")
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json"))


@contextmanager
def _locked_file_state(key: str):
    """The token's state, read and written under an exclusive lock shared by every local process.

    Plain descriptor calls (a read, then a write over it in place): each
    request takes a time here once or twice.
    """
    try:
        fd = os.open(_state_file(key), os.O_RDWR | os.O_CREAT, 0o600)
    except FileNotFoundError:  # its folder was removed since: make it again
        _state_file_in.cache_clear()
        fd = os.open(_state_file(key), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            text = os.pread(fd, 1 << 16, 0)
            try:
                state = json.loads(text or b"{}")
            except ValueError:
                state = {}  # a write cut short by a crash: start afresh rather than fail every request
            state.setdefault("recent", [])
            state.setdefault("paused_until", 0.0)
            yield state
            written = json.dumps(state).encode()
            os.pwrite(fd, written, 0)
            os.ftruncate(fd, len(written))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _take_in_file(key: str, rate: int, window: float, force: bool) -> tuple[float, float, float]:
    with _locked_file_state(key) as state:
        now = clock.now()
        recent, paused_until = _live(state["recent"], state["paused_until"], now)
        wait, taken = take(recent, now=now, paused_until=paused_until, rate=rate, window=window,
                           spacing=_spacing(rate), force=force)
        state["recent"] = recent[-rate * 2:]
        state["paused_until"] = paused_until
    return wait, now, taken


def _backend() -> str:
    if settings.REDIS_URL:
        return "redis"
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        return "file"
    return "database"


def _take(key: str, *, force: bool = False) -> tuple[float, float, float]:
    """Take a send time for `key` now if one is free.

    Returns (seconds to wait, 0 when taken; the store's time now; the time taken).
    """
    rate = settings.SYNC_RATE_LIMIT_PER_SECOND
    backend = _backend()
    if backend == "redis":
        return ratelimit_redis.take(key, rate=rate, window=_window(), history=HISTORY_SECONDS,
                                    horizon=MAX_AHEAD_SECONDS, spacing=_spacing(rate), early=EARLY_GRANT_SECONDS,
                                    force=force)
    if backend == "file":
        return _take_in_file(key, rate, _window(), force)
    return _take_in_database(key, rate, _window(), force)


def record_request(key: str) -> None:
    """Count a request already made with this token (one made before its user was known)."""
    _take(key, force=True)


def _shift(key: str, taken: float, by: float) -> None:
    backend = _backend()
    if backend == "redis":
        ratelimit_redis.shift(key, taken, by)
    elif backend == "file":
        with _locked_file_state(key) as state:
            state["recent"] = shifted(state["recent"], taken, by)
    else:
        _shift_in_database(key, taken, by)


class _Turnstile:
    """Threads of one process that ask for the same token's send time take turns in the order they asked.

    Without it, threads sleeping until the same next time race for it, and
    a thread can lose its turn again and again to later ones: long waits for
    a few requests, and slots missed while every thread sleeps past them.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    @contextmanager
    def turn(self):
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._changed.wait()
        try:
            yield
        finally:
            with self._changed:
                self._serving += 1
                self._changed.notify_all()


_turnstiles: dict[str, _Turnstile] = {}
_turnstiles_lock = threading.Lock()


def _turnstile(key: str) -> _Turnstile:
    with _turnstiles_lock:
        return _turnstiles.setdefault(key, _Turnstile())


# Seconds this thread spent blocked in `acquire` since it last called `take_waited` (None: it did not ask).
_waited = threading.local()


def acquire(key: str) -> None:
    """Block until a request with this token may leave; it counts from now, so send it at once."""
    asked = time.monotonic()
    try:
        with _turnstile(key).turn():
            _acquire(key)
    finally:
        _waited.seconds = (getattr(_waited, "seconds", None) or 0.0) + time.monotonic() - asked


def take_waited() -> float | None:
    """Seconds this thread waited for send times (its turn and the limit) since it last asked, and reset them.

    None when it took no send time since: the request never reached Pinterest's limit.
    """
    seconds = getattr(_waited, "seconds", None)
    _waited.seconds = None
    return seconds


def _acquire(key: str) -> None:
    waited_since = store_since = None
    while True:
        asked = time.monotonic()
        wait, store_now, taken = _take(key)
        if not wait:
            late = time.monotonic() - asked
            if late > LATE_SHIFT_SECONDS:
                # Taking the time took long (a busy machine, or threads queueing
                # for the interpreter): the request leaves that much after the
                # time recorded, so move the record, and the next second with it.
                _shift(key, taken, late)
            return
        if waited_since is None:
            waited_since, store_since = time.monotonic(), store_now
        elif store_now - store_since < time.monotonic() - waited_since - STALLED_CLOCK_SECONDS:
            record_request(key)
            return
        clock.sleep(wait)


def pause(key: str, seconds: float) -> None:
    """After a 429: no request with this token before now + seconds, in any process."""
    seconds = min(max(seconds, 0.0), MAX_AHEAD_SECONDS)
    backend = _backend()
    if backend == "redis":
        ratelimit_redis.pause(key, seconds, MAX_AHEAD_SECONDS)
        return
    if backend == "file":
        with _locked_file_state(key) as state:
            now = clock.now()
            _, paused_until = _live([], state["paused_until"], now)
            state["paused_until"] = max(paused_until, now + seconds)
        return
    with transaction.atomic():
        row = _locked_row(key)
        now = _database_now()
        _, paused_until = _live([], row.paused_until, now)
        row.paused_until = max(paused_until, now + seconds)
        row.save(update_fields=["paused_until"])


def reset(key: str) -> None:
    if settings.REDIS_URL:
        ratelimit_redis.delete(key)
    if _backend() == "file":
        _state_file(key).unlink(missing_ok=True)
    RateLimitWindow.objects.filter(key=key).delete()
