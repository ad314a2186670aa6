"""What the sandbox holds, and the error answer it gives: plain records guarded by the state's lock."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Received:
    """A request as it reached the sandbox, before any route or check: what a test watching the wire sees."""

    method: str
    path: str  # as sent: path and query string
    headers: dict
    body: bytes


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
