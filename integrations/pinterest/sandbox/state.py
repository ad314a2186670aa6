"""The sandbox's state and rules: a local Pinterest API v5 that keeps its limits.

Pure Python and thread-safe (one lock), so it runs in a thread inside tests
or as its own process (`python manage.py pinterest_sandbox`). What it
enforces, and where that comes from (integrations/pinterest/spec/API-NOTES.md):

- OAuth codes are one-time and tied to client and redirect URI; a refresh
  rotates the refresh token (continuous refresh, 1.3); revoked or expired
  tokens answer 401 {"code": 2, "message": "Authentication failed."}.
- More than `max_records` (1,900) records in one request is a 400 (3.5).
- More than `rate_limit` (7) requests in any rolling second per user is a
  429 {"code": 8, ...} (5.3); rejected requests do not count.
- A customer list under 100 members is TOO_SMALL, and a CUSTOMER_LIST
  audience can only be made from a READY list (3.1, 4.1).
- Ids are numeric strings (2).
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque

from integrations.pinterest.sandbox.accounts import AccountsMixin
from integrations.pinterest.sandbox.audiences import AudiencesMixin
from integrations.pinterest.sandbox.lists import CustomerListsMixin
from integrations.pinterest.sandbox.resources import (RATE_LIMITED_MESSAGE, ApiError, Audience, CustomerList,
                                                       Received, Token, User)


class SandboxState(AccountsMixin, CustomerListsMixin, AudiencesMixin):
    """The sandbox's whole state behind one lock: the request log, limits and faults here; users and tokens,
    customer lists and audiences in the modules of those resources."""

    def __init__(
        self,
        *,
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",
        rate_limit: int = 7,
        max_records: int = 1900,
        access_token_ttl: int = 30 * 24 * 3600,
        refresh_token_ttl: int = 60 * 24 * 3600,
        ready_delay: float = 0.0,
        ready_threshold: int = 100,
        retry_after_on_429: bool = True,
        seed: int = 1,
    ):
        self.client_id = client_id
        self.client_secret = client_secret
        self.rate_limit = rate_limit
        self.max_records = max_records
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.ready_delay = ready_delay
        self.ready_threshold = ready_threshold
        self.retry_after_on_429 = retry_after_on_429
        self.lock = threading.RLock()
        # Callables given each request as it arrives (a Received), before it is answered: how tests watch
        # the wire, or act at the moment Pinterest would be answering.
        self.observers: list = []
        self.seed = seed
        self.random = random.Random(seed)
        self.fault_random = random.Random(seed)  # the injected faults' rolls, apart from the ids
        self.reset()

    # --- bookkeeping -------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.next_id = 549755813000
            self.users: dict[str, User] = {}
            self.ad_accounts: dict[str, dict] = {}
            self.tokens: dict[str, Token] = {}
            self.codes: dict[str, dict] = {}
            self.lists: dict[str, CustomerList] = {}
            self.audiences_by_id: dict[str, Audience] = {}
            self.accepted: dict[str, deque] = {}
            self.log: list[dict] = []
            self.faults = {"rate_429": 0.0, "rate_5xx": 0.0, "rate_500": 0.0, "latency_ms": 0}
            self.failing: list[int] = []

    def new_id(self) -> str:
        with self.lock:
            self.next_id += self.random.randint(1, 997)
            return str(self.next_id)

    def set_faults(self, rate_429: float = 0.0, rate_5xx: float = 0.0, latency_ms: int = 0, rate_500: float = 0.0,
                   **_: object) -> dict:
        """A share of requests answered 429, 503 (`rate_5xx`) or 500, and every answer `latency_ms` late."""
        with self.lock:
            self.faults = {"rate_429": float(rate_429), "rate_5xx": float(rate_5xx), "rate_500": float(rate_500),
                           "latency_ms": int(latency_ms)}
            # The same faults in the same order every time they are set, however many requests came before
            # (a test's faults must not depend on which tests ran first).
            self.fault_random.seed(self.seed)
            return dict(self.faults)

    def fail_next(self, n: int, status: int) -> None:
        with self.lock:
            self.failing.extend([int(status)] * int(n))

    def requests_log(self) -> list[dict]:
        with self.lock:
            return [dict(entry) for entry in self.log]

    def observe(self, received: Received) -> None:
        for observer in list(self.observers):
            observer(received)

    def record(self, **entry: object) -> None:
        with self.lock:
            self.log.append(entry)

    # --- limits and faults ------------------------------------------------------------------

    def admit(self, user: User) -> float:
        """Apply the per-user rate limit and any injected fault, or raise the answer.

        Returns the time the request was accepted (what the limit counts)."""
        with self.lock:
            if self.failing:
                status = self.failing.pop(0)
                if status == 429:
                    raise self.rate_limited()
                raise ApiError(status, 1 if status < 500 else 3, "Service unavailable." if status >= 500 else "Failed.")
            roll = self.fault_random.random()
            if roll < self.faults["rate_429"]:
                raise self.rate_limited()
            if roll < self.faults["rate_429"] + self.faults["rate_5xx"]:
                raise ApiError(503, 3, "Service unavailable. Please try again later.")
            if roll < self.faults["rate_429"] + self.faults["rate_5xx"] + self.faults["rate_500"]:
                raise ApiError(500, 1, "Internal server error.")
            now = time.time()
            window = self.accepted.setdefault(user.id, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.rate_limit:
                raise self.rate_limited()
            window.append(now)
            return now

    def rate_limited(self) -> ApiError:
        headers = {"Retry-After": "1"} if self.retry_after_on_429 else {}
        return ApiError(429, 8, RATE_LIMITED_MESSAGE, headers)

    # --- paging --------------------------------------------------------------------------

    @staticmethod
    def page(items: list, *, bookmark: str | None, page_size: int) -> dict:
        start = int(bookmark) if bookmark and bookmark.isdigit() else 0
        chunk = items[start:start + page_size]
        following = start + page_size
        return {"items": chunk, "bookmark": str(following) if following < len(items) else None}
