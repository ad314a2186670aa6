"""A per-token rate limit shared by every process and machine.

Pinterest allows about 7 requests per second per user token (Braze, API-NOTES
5.3). Every request made with a token first reserves a send slot here. The
slots for one token form a non-decreasing sequence in which slot k is at
least `window` (one second plus a small margin) after slot k-rate: no
rolling second ever sees rate+1 requests, yet every second can use all
`rate` of them (spacing requests evenly at 1/rate loses a good part of the
budget to jitter).

The reservation is atomic across processes: a Lua script when Redis is
configured; a row per token with a row lock on PostgreSQL; and, with the
embedded SQLite (one machine by nature), a small file per token under an
exclusive `flock`, so reserving a slot never waits behind the database's
single write lock. What counts is when the request leaves, not
when the slot was reserved: a caller that wakes later than its slot plus a
small tolerance gives the slot up and reserves again.

A 429 pushes the token's next slot past the wait (Retry-After when present,
else one second), so every worker pauses together.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db import transaction

from integrations import clock

HISTORY_SECONDS = 5.0
# A caller that starts later than its slot by more than this gives it up.
LATE_TOLERANCE_SECONDS = 0.015


def key_for_user(pinterest_user_id: str) -> str:
    """Pinterest limits per user and app: every token of one user shares a budget."""
    return f"pinterest-user:{pinterest_user_id}"


def _window() -> float:
    return 1.0 + settings.SYNC_RATE_LIMIT_MARGIN_SECONDS


def next_slot(recent: list[float], *, now: float, paused_until: float, rate: int, window: float) -> float:
    """The earliest send time allowed after the slots in `recent` (sorted)."""
    slot = max(now, paused_until)
    if recent:
        slot = max(slot, recent[-1])
    if len(recent) >= rate:
        slot = max(slot, recent[-rate] + window)
    return slot


def _reserve_in_database(key: str, rate: int, window: float) -> float:
    from integrations.models import RateLimitWindow

    with transaction.atomic():
        row = RateLimitWindow.objects.select_for_update().filter(key=key).first()
        if row is None:
            row, _ = RateLimitWindow.objects.get_or_create(key=key)
        now = clock.now()
        recent = sorted(t for t in row.recent if t > now - HISTORY_SECONDS)
        slot = next_slot(recent, now=now, paused_until=row.paused_until, rate=rate, window=window)
        recent.append(slot)
        row.recent = recent[-rate * 2:]
        row.save(update_fields=["recent"])
    return slot


_RESERVE_LUA = """
local data = redis.call('GET', KEYS[1])
local now = tonumber(ARGV[1]); local rate = tonumber(ARGV[2]); local window = tonumber(ARGV[3])
local state = {recent = {}, paused_until = 0}
if data then state = cjson.decode(data) end
local recent = {}
for _, t in ipairs(state.recent) do if t > now - 5 then table.insert(recent, t) end end
table.sort(recent)
local slot = math.max(now, state.paused_until or 0)
if #recent > 0 then slot = math.max(slot, recent[#recent]) end
if #recent >= rate then slot = math.max(slot, recent[#recent - rate + 1] + window) end
table.insert(recent, slot)
while #recent > rate * 2 do table.remove(recent, 1) end
state.recent = recent
redis.call('SET', KEYS[1], cjson.encode(state), 'EX', 3600)
return tostring(slot)
"""

_PAUSE_LUA = """
local data = redis.call('GET', KEYS[1])
local state = {recent = {}, paused_until = 0}
if data then state = cjson.decode(data) end
if #state.recent == 0 then state.recent = cjson.decode('[]') end
state.paused_until = math.max(state.paused_until or 0, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], cjson.encode(state), 'EX', 3600)
return 1
"""


@lru_cache(maxsize=1)
def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def _reserve_in_redis(key: str, rate: int, window: float) -> float:
    return float(_redis().eval(_RESERVE_LUA, 1, f"ratelimit:{key}", clock.now(), rate, window))


def _state_file(key: str) -> Path:
    folder = Path(str(settings.DATABASES["default"]["NAME"]) + ".ratelimit")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


@contextmanager
def _locked_file_state(key: str):
    """The token's state, read and written under an exclusive lock shared by every local process."""
    with open(_state_file(key), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0)
            raw = fh.read()
            state = json.loads(raw) if raw else {"recent": [], "paused_until": 0.0}
            yield state
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(state))
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _reserve_in_file(key: str, rate: int, window: float) -> float:
    with _locked_file_state(key) as state:
        now = clock.now()
        recent = sorted(t for t in state["recent"] if t > now - HISTORY_SECONDS)
        slot = next_slot(recent, now=now, paused_until=state["paused_until"], rate=rate, window=window)
        recent.append(slot)
        state["recent"] = recent[-rate * 2:]
    return slot


def _backend() -> str:
    if settings.REDIS_URL:
        return "redis"
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        return "file"
    return "database"


def reserve(key: str) -> float:
    """Reserve the next send slot for `key`; returns its epoch time."""
    rate = settings.SYNC_RATE_LIMIT_PER_SECOND
    backend = _backend()
    if backend == "redis":
        return _reserve_in_redis(key, rate, _window())
    if backend == "file":
        return _reserve_in_file(key, rate, _window())
    return _reserve_in_database(key, rate, _window())


def acquire(key: str) -> None:
    """Block until a request with this token may leave now."""
    while True:
        slot = reserve(key)
        clock.sleep(slot - clock.now())
        if clock.now() - slot <= LATE_TOLERANCE_SECONDS:
            return
        # Woke too late: sending now could crowd the next second. Try again.


def pause(key: str, seconds: float) -> None:
    """After a 429: no request with this token before now + seconds, in any process."""
    until = clock.now() + max(seconds, 0.0)
    backend = _backend()
    if backend == "redis":
        _redis().eval(_PAUSE_LUA, 1, f"ratelimit:{key}", until)
        return
    if backend == "file":
        with _locked_file_state(key) as state:
            state["paused_until"] = max(state["paused_until"], until)
        return
    from integrations.models import RateLimitWindow

    with transaction.atomic():
        row, _ = RateLimitWindow.objects.select_for_update().get_or_create(key=key)
        if until > row.paused_until:
            row.paused_until = until
            row.save(update_fields=["paused_until"])


def reset(key: str) -> None:
    if settings.REDIS_URL:
        _redis().delete(f"ratelimit:{key}")
    _state_file(key).unlink(missing_ok=True)
    from integrations.models import RateLimitWindow

    RateLimitWindow.objects.filter(key=key).delete()
