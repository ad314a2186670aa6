"""The audit log: the only writer of AuditEvent.

Services record what was done (`audit_record`); who did it and from where
comes from the context the caller runs in: a web request (set by
audiences.middleware.AuditActorMiddleware: a signed-in user in the admin or
the workspace pages, or an API key once DRF has authenticated it), a
management command (`acting("command", name)`, or the command name read
from the command line), or a background task.

Details never hold raw identifiers or secrets: callers pass counts, ids and names.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from audiences.models import AuditEvent
from integrations.models import Workspace


@dataclass(frozen=True)
class Actor:
    source: str
    name: str = ""
    ip: str | None = None


_actor: ContextVar[Actor | Callable[[], Actor] | None] = ContextVar("audit_actor", default=None)

# Commands that serve requests or run tasks: what they do is attributed to the request or the task.
_SERVING_COMMANDS = {"runserver", "qcluster", "run_local", "pinterest_sandbox"}


@contextmanager
def acting(source: str, name: str = "", ip: str | None = None) -> Iterator[None]:
    """Attribute what services do inside the block to this actor."""
    token = _actor.set(Actor(source, name[:200], ip))
    try:
        yield
    finally:
        _actor.reset(token)


@contextmanager
def acting_lazily(resolve: Callable[[], Actor]) -> Iterator[None]:
    """Like `acting`, the actor worked out when a row is written (an API key is known only after DRF authenticates)."""
    token = _actor.set(resolve)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> Actor:
    actor = _actor.get()
    if callable(actor):
        return actor()
    if actor is not None:
        return actor
    argv = sys.argv
    if len(argv) > 1 and argv[0].endswith("manage.py") and argv[1] not in _SERVING_COMMANDS:
        return Actor(AuditEvent.Source.COMMAND, argv[1][:200])
    return Actor(AuditEvent.Source.SYSTEM)


def audit_record(*, workspace: Workspace | int | None, action: str, target: object = "",
                 details: dict | None = None) -> AuditEvent:
    """One row of the audit log, attributed to the current actor; inside the caller's transaction if any."""
    actor = current_actor()
    workspace_id = workspace.pk if isinstance(workspace, Workspace) else workspace
    return AuditEvent.objects.create(
        workspace_id=workspace_id, action=action[:40], source=actor.source, actor=actor.name, ip=actor.ip,
        target=str(target)[:300], details=details or {},
    )


def on_integration_event(sender, *, workspace, action: str, target: object = "", details: dict | None = None,
                         **kwargs) -> None:
    """integrations.signals.audited: what the integrations app did (it never imports audiences)."""
    audit_record(workspace=workspace, action=action, target=target, details=details)
