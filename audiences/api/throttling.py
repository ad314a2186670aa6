"""Requests per API key: settings.API_THROTTLE_RATE (e.g. "600/min").

DRF counts in Django's default cache, which settings.CACHES makes shared by
every web process and machine: Redis when REDIS_URL is set, else a table of
the database (created by `migrate`, see apps.py). DRF reads a key's recent
requests and writes them back, so two requests of one key that arrive at the
same instant in two processes may both be let through: the limit holds to
within a request or two, never once per process.
"""

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
