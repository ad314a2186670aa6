"""Requests per API key: settings.API_THROTTLE_RATE (e.g. "600/min").

Counted in Django's default cache, which settings.CACHES makes shared by
every web process and machine: Redis when REDIS_URL is set, else a table of
the database (created by `migrate`, see apps.py).

A sliding-window counter, not DRF's list of every request's time: a key's
entry holds the current window's count and the previous window's, and a
request is let through while `previous x (share of the window still to
come) + current` is under the rate. The entry stays three numbers at any
rate (DRF's list grew with the rate: at 1,450 requests in the window,
reading and writing it back was a fifth of a small call's CPU), and a burst
at a window's edge still counts against the next one. The entry is read and written back, so
two requests of one key that arrive at the same instant in two processes
may both be let through: the limit holds to within a request or two, never
once per process.
"""

from __future__ import annotations

import math

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from audiences.api.authentication import ApiClient


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
        now = self.timer()
        window, self.elapsed = divmod(now / self.duration, 1)
        self.current, self.previous = 0, 0
        stored = self.cache.get(self.key)
        if stored:
            stored_window, count, before = stored
            if stored_window == window:
                self.current, self.previous = count, before
            elif stored_window == window - 1:
                self.previous = count
        if self.previous * (1 - self.elapsed) + self.current >= self.num_requests:
            return False
        self.cache.set(self.key, (window, self.current + 1, self.previous), 2 * self.duration)
        return True

    def wait(self) -> int:
        """Seconds until one more request fits (at least a second: Retry-After counts whole seconds)."""
        if self.current >= self.num_requests:
            # Not before the next window, and then until this window's count has faded enough.
            fraction = (1 - self.elapsed) + (1 - self.num_requests / self.current if self.current else 0)
        else:
            fraction = (1 - (self.num_requests - self.current) / self.previous) - self.elapsed
        return max(1, math.floor(round(fraction * self.duration, 3)) + 1)
