"""Requests per API key: settings.API_THROTTLE_RATE (e.g. "600/min").

Counted where every web process and machine sees one count: in Redis when
REDIS_URL is set, else in a table of the database (`ApiKeyRate`).

A sliding-window counter, not DRF's list of every request's time: a key's
entry holds the current window's count and the previous window's, and a
request is let through while `previous x (share of the window still to
come) + current` is under the rate. The entry stays three numbers at any
rate (DRF's list grew with the rate: at 1,450 requests in the window,
reading and writing it back was a fifth of a small call's CPU), and a burst
at a window's edge still counts against the next one.

Checking and counting a request is one atomic step, a Lua script in Redis
or one INSERT ... ON CONFLICT DO UPDATE ... WHERE in the database, so two
processes' requests at the same instant cannot both take the last place;
and one round trip (the cache's get and set took six statements on SQLite,
a sixth of a small entry call's CPU).
"""

from __future__ import annotations

import math

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection
from django.utils.connection import ConnectionProxy
from rest_framework.throttling import SimpleRateThrottle

from audiences.api.authentication import ApiClient
from audiences.api.models import ApiKeyRate
from audiences.bulk_sql import table


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self) -> str | None:
        # Read at request time (DRF reads its rates once, at import), so the setting can change in tests.
        return settings.API_THROTTLE_RATE or None

    def get_cache_key(self, request, view):
        if not isinstance(request.user, ApiClient):
            return None  # no key, no budget: authentication already refused the request
        # The key's random prefix, not its row id: ids can be reused, prefixes are not.
        return self.cache_format % {"scope": self.scope, "ident": request.user.api_key.prefix}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        window, self.elapsed = divmod(self.timer() / self.duration, 1)
        # DRF's `cache` is the default cache's proxy; tests give a throttle a cache of their own.
        cache = caches[DEFAULT_CACHE_ALIAS] if isinstance(self.cache, ConnectionProxy) else self.cache
        count = _count_in_redis if isinstance(cache, RedisCache) else _count_in_database
        allowed, self.current, self.previous = count(cache, self.key, int(window), 1 - self.elapsed,
                                                     self.num_requests, 2 * self.duration)
        return allowed

    def wait(self) -> int:
        """Seconds until one more request fits (at least a second: Retry-After counts whole seconds)."""
        if self.current >= self.num_requests:
            # Not before the next window, and then until this window's count has faded enough.
            fraction = (1 - self.elapsed) + (1 - self.num_requests / self.current if self.current else 0)
        else:
            fraction = (1 - (self.num_requests - self.current) / self.previous) - self.elapsed
        return max(1, math.floor(round(fraction * self.duration, 3)) + 1)


# Each returns (let through, current, previous): the counts before this request, rolled to `window`.

_REDIS_COUNT = """
local window, still_to_come, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local current, previous = 0, 0
local stored = redis.call('GET', KEYS[1])
if stored then
    local w, c, p = string.match(stored, '^(-?%d+):(%d+):(%d+)$')
    if tonumber(w) == window then current, previous = tonumber(c), tonumber(p)
    elseif tonumber(w) == window - 1 then previous = tonumber(c) end
end
if previous * still_to_come + current >= limit then return {0, current, previous} end
redis.call('SET', KEYS[1], window .. ':' .. (current + 1) .. ':' .. previous, 'EX', ARGV[4])
return {1, current, previous}
"""


def _count_in_redis(cache: RedisCache, key: str, window: int, still_to_come: float, limit: int,
                    ttl: int) -> tuple[bool, int, int]:
    key = cache.make_and_validate_key(key)
    client = cache._cache.get_client(key, write=True)
    allowed, current, previous = client.eval(_REDIS_COUNT, 1, key, window, repr(still_to_come), limit, ttl)
    return bool(allowed), int(current), int(previous)


def _rolled(row: str) -> tuple[str, str]:
    """SQL for the stored row's (current, previous) as of the request's window (`excluded.window_number`)."""
    same, last = f"{row}.window_number = excluded.window_number", f"{row}.window_number = excluded.window_number - 1"
    return (f"CASE WHEN {same} THEN {row}.current ELSE 0 END",
            f"CASE WHEN {same} THEN {row}.previous WHEN {last} THEN {row}.current ELSE 0 END")


def _count_in_database(cache, key: str, window: int, still_to_come: float, limit: int,
                       ttl: int) -> tuple[bool, int, int]:
    if limit <= 0:
        return False, 0, 0
    rates = table(ApiKeyRate)
    current, previous = _rolled(rates)
    with connection.cursor() as cursor:
        # The row is counted only where the WHERE lets the request through; RETURNING gives the new counts.
        cursor.execute(
            f"INSERT INTO {rates} (key, window_number, current, previous) VALUES (%s, %s, 1, 0) "
            f"ON CONFLICT (key) DO UPDATE SET current = {current} + 1, previous = {previous}, "
            f"window_number = excluded.window_number WHERE {previous} * %s + {current} < %s "
            "RETURNING current, previous",
            [key, window, still_to_come, limit],
        )
        counted = cursor.fetchone()
        if counted is not None:
            return True, counted[0] - 1, counted[1]
        # Refused: the stored counts, rolled to this window, say how long to wait.
        cursor.execute(f"SELECT window_number, current, previous FROM {rates} WHERE key = %s", [key])
        stored_window, stored_current, stored_previous = cursor.fetchone()
    if stored_window == window:
        return False, stored_current, stored_previous
    return False, 0, stored_current if stored_window == window - 1 else 0
