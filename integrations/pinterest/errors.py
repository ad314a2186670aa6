"""What can go wrong talking to Pinterest, named by what the caller must do.

- AuthError: the token is invalid or expired; refresh once, then reconnect.
- RateLimited: slow down; carries the wait Pinterest asked for, if any.
- TransientError: 5xx, timeout or connection failure; try again later.
- RequestError: Pinterest refused this payload; retrying it will not help.
"""

from __future__ import annotations

from typing import Any


class PinterestError(Exception):
    """Base: carries Pinterest's error code and message, never request data."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None, request_id: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return " · ".join(parts)


class AuthError(PinterestError):
    """401: the token is invalid, expired or revoked. Refresh once, then reconnect."""


class RateLimited(PinterestError):
    """429: slow down. retry_after is Pinterest's Retry-After in seconds, when sent."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class TransientError(PinterestError):
    """5xx, timeout or connection error: try again later."""


class RequestError(PinterestError):
    """Other 4xx: permanent for this payload."""


class NotFound(RequestError):
    """404: the object does not exist (or no longer does) on Pinterest."""


class InvalidId(RequestError):
    """A value meant as a Pinterest id is not one; nothing was sent."""


