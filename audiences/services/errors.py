"""What a service refuses, named by what the caller shows: the message is for the user."""

from __future__ import annotations

from dataclasses import dataclass


class ServiceError(Exception):
    """A request that cannot be carried out; the message is shown to the user."""


class NotAllowed(ServiceError):
    """Not in the object's current state (an active canvas, pending users)."""


@dataclass
class LaunchRefused(ServiceError):
    problems: list[str]

    def __str__(self) -> str:
        return "; ".join(self.problems)


@dataclass
class EntryRejected(ServiceError):
    """One row of a bulk entry is invalid; nothing was stored.

    `row` counts from 0 in the call; `field` is the user's key at fault
    ("" when the row is not an object); `other_row` is the earlier row a
    conflicting duplicate clashes with.
    """

    row: int
    message: str
    field: str = ""
    other_row: int | None = None

    def __str__(self) -> str:
        return f"Row {self.row}: {self.message}"


class IdempotencyKeyReused(ServiceError):
    """The key was already used for a different request."""
