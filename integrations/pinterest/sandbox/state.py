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
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field


class ApiError(Exception):
    """An answer with Pinterest's error body {code, message}."""

    def __init__(self, status: int, code: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "message": self.message}


AUTH_FAILED = (401, 2, "Authentication failed.")
RATE_LIMITED_MESSAGE = "This request exceeded a rate limit. This can be caused by too many requests in a short time."
LIST_TYPES = {"EMAIL", "IDFA", "MAID", "LR_ID", "DLX_ID", "HASHED_PINNER_ID"}
AUDIENCE_TYPES = {"CUSTOMER_LIST", "VISITOR", "ENGAGEMENT", "ACTALIKE", "PERSONA"}


@dataclass
class User:
    id: str
    username: str
    ad_account_ids: list[str] = field(default_factory=list)


@dataclass
class Token:
    value: str
    user_id: str
    kind: str  # access | refresh
    expires_at: float
    scope: str
    revoked: bool = False


@dataclass
class CustomerList:
    id: str
    ad_account_id: str
    name: str
    list_type: str
    members: set = field(default_factory=set)
    created_time: int = 0
    updated_time: float = 0.0
    num_batches: int = 0
    num_uploaded_user_records: int = 0
    num_removed_user_records: int = 0


@dataclass
class Audience:
    id: str
    ad_account_id: str
    name: str
    audience_type: str
    rule: dict
    description: str
    created_timestamp: int
    updated_timestamp: int
    deleted: bool = False


class SandboxState:
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
        self.random = random.Random(seed)
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
            return dict(self.faults)

    def fail_next(self, n: int, status: int) -> None:
        with self.lock:
            self.failing.extend([int(status)] * int(n))

    def requests_log(self) -> list[dict]:
        with self.lock:
            return [dict(entry) for entry in self.log]

    def record(self, **entry: object) -> None:
        with self.lock:
            self.log.append(entry)

    # --- users and tokens -----------------------------------------------------------------

    def create_user(self, username: str = "sandbox-user", ad_accounts: int = 3) -> dict:
        with self.lock:
            for user in self.users.values():
                if user.username == username:
                    return self.user_json(user)
            user = User(id=self.new_id(), username=username)
            self.users[user.id] = user
            for i in range(ad_accounts):
                self.add_ad_account(user, name=f"{username} ads {i + 1}")
            return self.user_json(user)

    def add_ad_account(self, user: User, *, name: str, account_id: str | None = None) -> dict:
        account_id = account_id or self.new_id()
        now = int(time.time())
        account = {
            "id": account_id,
            "name": name,
            "owner": {"id": user.id, "username": user.username},
            "country": "US",
            "currency": "USD",
            "permissions": ["OWNER"],
            "created_time": now,
            "updated_time": now,
        }
        self.ad_accounts[account_id] = account
        user.ad_account_ids.append(account_id)
        return account

    def user_json(self, user: User) -> dict:
        return {
            "id": user.id,
            "username": user.username,
            "account_type": "BUSINESS",
            "business_name": user.username,
            "profile_image": "",
            "website_url": "",
            "ad_account_ids": list(user.ad_account_ids),
        }

    def issue_tokens(self, user_id: str, access_ttl: int | None = None, *, scope: str = "ads:read,ads:write,user_accounts:read",
                     access_token: str | None = None, refresh_token: str | None = None) -> dict:
        with self.lock:
            now = time.time()
            ttl = self.access_token_ttl if access_ttl is None else access_ttl
            access = Token(access_token or "pina_" + secrets.token_urlsafe(32), user_id, "access", now + ttl, scope)
            refresh = Token(refresh_token or "pinr_" + secrets.token_urlsafe(32), user_id, "refresh",
                            now + self.refresh_token_ttl, scope)
            self.tokens[access.value] = access
            self.tokens[refresh.value] = refresh
            return {
                "access_token": access.value,
                "refresh_token": refresh.value,
                "token_type": "bearer",
                "expires_in": int(ttl),
                "refresh_token_expires_in": self.refresh_token_ttl,
                "refresh_token_expires_at": int(refresh.expires_at),
                "scope": scope,
            }

    def revoke(self, token: str) -> bool:
        with self.lock:
            found = self.tokens.get(token)
            if found:
                found.revoked = True
            return bool(found)

    def revoke_user(self, user_id: str) -> int:
        """Revoke every token of a user, as when they remove the app's access."""
        with self.lock:
            count = 0
            for token in self.tokens.values():
                if token.user_id == user_id and not token.revoked:
                    token.revoked = True
                    count += 1
            return count

    def expire(self, access_token: str) -> None:
        with self.lock:
            if access_token in self.tokens:
                self.tokens[access_token].expires_at = time.time() - 1

    def seed_demo(self) -> dict:
        """A fixed demo user with ad accounts and fixed tokens (idempotent)."""
        with self.lock:
            user = next((u for u in self.users.values() if u.username == "demo"), None)
            if user is None:
                user = User(id="549755813888", username="demo")
                self.users[user.id] = user
                for i, account_id in enumerate(["549755885175", "549755885176"]):
                    self.add_ad_account(user, name=f"Demo ads {i + 1}", account_id=account_id)
            if "pina_demo_access_token" not in self.tokens:
                self.issue_tokens(user.id, access_token="pina_demo_access_token", refresh_token="pinr_demo_refresh_token")
            return self.user_json(user)

    def authenticate(self, token_value: str) -> User:
        with self.lock:
            token = self.tokens.get(token_value)
            if token is None or token.kind != "access" or token.revoked or token.expires_at <= time.time():
                raise ApiError(*AUTH_FAILED)
            return self.users[token.user_id]

    # --- OAuth --------------------------------------------------------------------------

    def check_client(self, client_id: str, client_secret: str | None = None) -> bool:
        return client_id == self.client_id and (client_secret is None or client_secret == self.client_secret)

    def grant_code(self, *, client_id: str, redirect_uri: str, scope: str, username: str) -> str:
        with self.lock:
            user = self.create_user(username=username or "sandbox-user")
            code = secrets.token_urlsafe(24)
            self.codes[code] = {
                "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope, "user_id": user["id"],
                "expires_at": time.time() + 600,
            }
            return code

    def exchange_code(self, *, code: str, redirect_uri: str) -> dict:
        with self.lock:
            grant = self.codes.pop(code, None)
            if grant is None or grant["expires_at"] < time.time():
                raise ApiError(400, 1, "Invalid authorization code.")
            if grant["redirect_uri"] != redirect_uri:
                raise ApiError(400, 1, "redirect_uri does not match the authorization request.")
            tokens = self.issue_tokens(grant["user_id"], scope=grant["scope"] or "ads:read,ads:write,user_accounts:read")
            return {**tokens, "response_type": "authorization_code"}

    def refresh(self, *, refresh_token: str) -> dict:
        with self.lock:
            token = self.tokens.get(refresh_token)
            if token is None or token.kind != "refresh" or token.revoked or token.expires_at <= time.time():
                raise ApiError(400, 1, "Invalid refresh token.")
            token.revoked = True  # rotated: the old refresh token is spent
            tokens = self.issue_tokens(token.user_id, scope=token.scope)
            return {**tokens, "response_type": "refresh_token"}

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
            roll = self.random.random()
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

    # --- ad accounts ------------------------------------------------------------------------

    def ad_account_for(self, user: User, ad_account_id: str) -> dict:
        account = self.ad_accounts.get(ad_account_id)
        if account is None or ad_account_id not in user.ad_account_ids:
            raise ApiError(404, 2404, "Ad account not found.")
        return account

    # --- customer lists ------------------------------------------------------------------------

    def parse_records(self, records: object) -> list[str]:
        if not isinstance(records, str) or not records.strip():
            raise ApiError(400, 1, "records must be a non-empty string of comma-separated identifiers.")
        items = [r.strip() for r in records.split(",")]
        if any(not r for r in items):
            raise ApiError(400, 1, "records contains an empty identifier.")
        if len(items) > self.max_records:
            raise ApiError(400, 1, f"Too many records in one request: {len(items)}; the limit is {self.max_records}.")
        return items

    def list_status(self, customer_list: CustomerList) -> str:
        if time.time() - customer_list.updated_time < self.ready_delay:
            return "PROCESSING"
        return "READY" if len(customer_list.members) >= self.ready_threshold else "TOO_SMALL"

    def list_json(self, customer_list: CustomerList) -> dict:
        return {
            "id": customer_list.id,
            "ad_account_id": customer_list.ad_account_id,
            "name": customer_list.name,
            "created_time": customer_list.created_time,
            "updated_time": int(customer_list.updated_time),
            "num_batches": customer_list.num_batches,
            "num_uploaded_user_records": customer_list.num_uploaded_user_records,
            "num_removed_user_records": customer_list.num_removed_user_records,
            "exceptions": {},
            "type": "customerlist",
            "status": self.list_status(customer_list),
        }

    def create_list(self, user: User, ad_account_id: str, body: dict) -> dict:
        with self.lock:
            self.ad_account_for(user, ad_account_id)
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ApiError(400, 1, "name is required.")
            list_type = body.get("list_type", "EMAIL")
            if list_type not in LIST_TYPES:
                raise ApiError(400, 1, f"Invalid list_type: {list_type}.")
            records = self.parse_records(body.get("records"))
            now = time.time()
            customer_list = CustomerList(
                id=self.new_id(), ad_account_id=ad_account_id, name=name, list_type=list_type,
                members=set(records), created_time=int(now), updated_time=now, num_batches=1,
                num_uploaded_user_records=len(records),
            )
            self.lists[customer_list.id] = customer_list
            return self.list_json(customer_list)

    def get_list(self, user: User, ad_account_id: str, list_id: str) -> CustomerList:
        self.ad_account_for(user, ad_account_id)
        customer_list = self.lists.get(list_id)
        if customer_list is None or customer_list.ad_account_id != ad_account_id:
            raise ApiError(404, 2404, "Customer list not found.")
        return customer_list

    def update_list(self, user: User, ad_account_id: str, list_id: str, body: dict) -> dict:
        with self.lock:
            customer_list = self.get_list(user, ad_account_id, list_id)
            operation = body.get("operation_type")
            if operation not in ("ADD", "REMOVE"):
                raise ApiError(400, 1, "operation_type must be ADD or REMOVE.")
            records = self.parse_records(body.get("records"))
            if operation == "ADD":
                customer_list.members.update(records)
                customer_list.num_uploaded_user_records += len(records)
            else:
                customer_list.members.difference_update(records)
                customer_list.num_removed_user_records += len(records)
            customer_list.num_batches += 1
            customer_list.updated_time = time.time()
            return self.list_json(customer_list)

    def customer_list_records(self, list_id: str) -> set[str]:
        with self.lock:
            return set(self.lists[list_id].members) if list_id in self.lists else set()

    def customer_lists(self) -> list[dict]:
        with self.lock:
            return [{**self.list_json(l), "list_type": l.list_type, "members": len(l.members)} for l in self.lists.values()]

    # --- audiences ---------------------------------------------------------------------------

    def audience_json(self, audience: Audience) -> dict:
        size, status = None, "READY"
        if audience.audience_type == "CUSTOMER_LIST":
            customer_list = self.lists.get(str(audience.rule.get("customer_list_id")))
            members = len(customer_list.members) if customer_list else 0
            size = members if members >= self.ready_threshold else None
            status = "READY" if members >= self.ready_threshold else "TOO_SMALL"
        return {
            "id": audience.id,
            "ad_account_id": audience.ad_account_id,
            "name": audience.name,
            "audience_type": audience.audience_type,
            "description": audience.description,
            "rule": audience.rule,
            "size": size,
            "status": status,
            "type": "audience",
            "created_timestamp": audience.created_timestamp,
            "updated_timestamp": audience.updated_timestamp,
            "created_by_company_name": "",
        }

    def create_audience(self, user: User, ad_account_id: str, body: dict) -> dict:
        with self.lock:
            self.ad_account_for(user, ad_account_id)
            audience_type, name, rule = body.get("audience_type"), body.get("name"), body.get("rule")
            if audience_type not in AUDIENCE_TYPES:
                raise ApiError(400, 1, "audience_type is required and must be a valid audience type.")
            if not isinstance(name, str) or not name.strip():
                raise ApiError(400, 1, "name is required.")
            if not isinstance(rule, dict):
                raise ApiError(400, 1, "rule is required.")
            if audience_type == "CUSTOMER_LIST":
                list_id = str(rule.get("customer_list_id") or "")
                customer_list = self.lists.get(list_id)
                if customer_list is None or customer_list.ad_account_id != ad_account_id:
                    raise ApiError(400, 1, "rule.customer_list_id is not a customer list of this ad account.")
                status = self.list_status(customer_list)
                if status != "READY":
                    raise ApiError(400, 1, f"The customer list is {status}: an audience needs at least "
                                           f"{self.ready_threshold} matched users.")
            if audience_type == "ACTALIKE":
                seeds = rule.get("seed_id")
                if not isinstance(seeds, list) or not seeds or any(str(s) not in self.audiences_by_id for s in seeds):
                    raise ApiError(400, 1, "rule.seed_id must list existing audiences.")
                if rule.get("country") not in ("US", "CA", "GB"):
                    raise ApiError(400, 1, "rule.country must be US, CA or GB.")
                percentage = rule.get("percentage")
                if not isinstance(percentage, int) or not 1 <= percentage <= 10:
                    raise ApiError(400, 1, "rule.percentage must be between 1 and 10.")
            now = int(time.time())
            audience = Audience(self.new_id(), ad_account_id, name, audience_type, rule,
                                body.get("description") or "", now, now)
            self.audiences_by_id[audience.id] = audience
            return self.audience_json(audience)

    def get_audience(self, user: User, ad_account_id: str, audience_id: str) -> Audience:
        self.ad_account_for(user, ad_account_id)
        audience = self.audiences_by_id.get(audience_id)
        if audience is None or audience.deleted or audience.ad_account_id != ad_account_id:
            raise ApiError(404, 2404, "Audience not found.")
        return audience

    def update_audience(self, user: User, ad_account_id: str, audience_id: str, body: dict) -> dict:
        with self.lock:
            audience = self.get_audience(user, ad_account_id, audience_id)
            operation = body.get("operation_type", "UPDATE")
            if operation not in ("UPDATE", "REMOVE"):
                raise ApiError(400, 1, "operation_type must be UPDATE or REMOVE.")
            if operation == "REMOVE":
                audience.deleted = True
            for key in ("name", "description"):
                if isinstance(body.get(key), str):
                    setattr(audience, key, body[key])
            if isinstance(body.get("rule"), dict):
                audience.rule = body["rule"]
            audience.updated_timestamp = int(time.time())
            return self.audience_json(audience)

    def delete_list(self, list_id: str) -> bool:
        """What deleting a customer list in Ads Manager does (the v5 API has no delete): it is gone."""
        with self.lock:
            return self.lists.pop(list_id, None) is not None

    def delete_audience(self, audience_id: str) -> bool:
        with self.lock:
            audience = self.audiences_by_id.get(audience_id)
            if audience:
                audience.deleted = True
            return bool(audience)

    def audiences(self) -> list[dict]:
        with self.lock:
            return [self.audience_json(a) for a in self.audiences_by_id.values() if not a.deleted]

    # --- paging --------------------------------------------------------------------------

    @staticmethod
    def page(items: list, *, bookmark: str | None, page_size: int) -> dict:
        start = int(bookmark) if bookmark and bookmark.isdigit() else 0
        chunk = items[start:start + page_size]
        following = start + page_size
        return {"items": chunk, "bookmark": str(following) if following < len(items) else None}
