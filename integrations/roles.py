"""Who may do what in a workspace: the one table of roles and actions, and the checks on it.

Every caller that acts for a person (the admin's pages and actions, the
workspace's Pinterest page) asks `can()` before it offers an action and
`require()` before it calls a service; API keys carry a scope instead
(`KEY_SCOPE_OPERATIONS`), checked by audiences.api.permissions.

    viewer    reads figures, records, the audit log; changes nothing
    marketer  a viewer's rights, and builds and runs canvases
    admin     a marketer's rights, and holds the connection, keys, alerts and members

A superuser may do everything everywhere. Someone who is not a member of the
workspace may do nothing in it (the callers answer 404 there, so another
workspace's objects stay unseen); a member whose role does not allow the
action gets `Forbidden` (403) and nothing changes.
"""

from __future__ import annotations

import enum

from django.core.exceptions import PermissionDenied

from integrations.models import ApiKey, Membership, Workspace

Role = Membership.Role


class Action(enum.StrEnum):
    # Reading: every member.
    VIEW = "view"  # canvases, steps, figures, records, send logs, audiences, audit log, the Pinterest page
    # Building and running canvases: marketers and admins.
    CANVAS_EDIT = "canvas.edit"  # create, rename, delete canvases; add, change, delete steps
    CANVAS_RUN = "canvas.run"  # launch and stop
    USERS_ENTER = "users.enter"  # upload a CSV of users into a live canvas
    RECORDS_RETRY = "records.retry"  # retry errored users
    AUDIENCE_CREATE = "audience.create"  # an Actalike audience on Pinterest
    STEP_PREVIEW = "step.preview"  # a step's dry run
    SUPPRESSION_EDIT = "suppression.edit"  # add to or take off the suppression list
    # Holding the workspace: admins.
    CONNECTION_MANAGE = "connection.manage"  # connect, reconnect, disconnect Pinterest
    AD_ACCOUNTS_CHOOSE = "ad_accounts.choose"
    API_KEYS_MANAGE = "api_keys.manage"  # create and revoke
    ALERTS_MANAGE = "alerts.manage"  # alert settings and the webhook
    MEMBERS_MANAGE = "members.manage"  # invite, change roles, remove; require two-factor authentication of them
    USERS_ERASE = "users.erase"  # erasure requests


_VIEWER = frozenset({Action.VIEW})
_MARKETER = _VIEWER | {
    Action.CANVAS_EDIT, Action.CANVAS_RUN, Action.USERS_ENTER, Action.RECORDS_RETRY, Action.AUDIENCE_CREATE,
    Action.STEP_PREVIEW, Action.SUPPRESSION_EDIT,
}
_ADMIN = _MARKETER | {
    Action.CONNECTION_MANAGE, Action.AD_ACCOUNTS_CHOOSE, Action.API_KEYS_MANAGE, Action.ALERTS_MANAGE,
    Action.MEMBERS_MANAGE, Action.USERS_ERASE,
}

#: What each role may do. The README's "Who may do what" table is this one.
ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.VIEWER: _VIEWER,
    Role.MARKETER: _MARKETER,
    Role.ADMIN: _ADMIN,
}


class Forbidden(PermissionDenied):
    """The person's role (or the API key's scope) does not allow the action; nothing was changed.

    A PermissionDenied, so the admin answers its 403 page and the API its
    `forbidden` error without a handler of their own.
    """


def _workspace_id(workspace: Workspace | int) -> int:
    return workspace if isinstance(workspace, int) else workspace.pk


def roles_of(user) -> dict[int, str]:
    """{workspace id: role} for the user's memberships (read once per user object)."""
    if not (user is not None and getattr(user, "is_authenticated", False) and user.is_active):
        return {}
    cached = getattr(user, "_workspace_roles", None)
    if cached is None:
        cached = dict(Membership.objects.filter(user=user).values_list("workspace_id", "role"))
        user._workspace_roles = cached
    return cached


def role_of(user, workspace: Workspace | int) -> str | None:
    """The user's role in the workspace: a superuser is an admin everywhere; None for a non-member."""
    if user is not None and getattr(user, "is_superuser", False) and user.is_active:
        return Role.ADMIN
    return roles_of(user).get(_workspace_id(workspace))


def can(user, workspace: Workspace | int, action: Action) -> bool:
    role = role_of(user, workspace)
    return role is not None and action in ROLE_ACTIONS.get(role, frozenset())


def require(user, workspace: Workspace | int, action: Action) -> None:
    """Raise Forbidden unless the user may do `action` in the workspace."""
    if not can(user, workspace, action):
        raise Forbidden(forbidden_message(role_of(user, workspace), action))


def require_anywhere(user, action: Action) -> None:
    """Raise Forbidden unless the user may do `action` in at least one of their workspaces."""
    if not can_anywhere(user, action):
        roles = set(roles_of(user).values())
        raise Forbidden(forbidden_message(max(roles, key=lambda r: len(ROLE_ACTIONS[r])) if roles else None, action))


def can_anywhere(user, action: Action) -> bool:
    """Whether the user may do `action` in at least one workspace (offers of pages not tied to one)."""
    if user is not None and getattr(user, "is_superuser", False) and user.is_active:
        return True
    return any(action in ROLE_ACTIONS.get(role, frozenset()) for role in roles_of(user).values())


def workspace_ids_where(user, action: Action) -> set[int]:
    """Ids of the user's workspaces where the user may do `action` (superusers: use every workspace)."""
    return {pk for pk, role in roles_of(user).items() if action in ROLE_ACTIONS.get(role, frozenset())}


def workspaces_where(user, action: Action):
    """The workspaces where the user may do `action`, for a form's choices."""
    if user is not None and getattr(user, "is_superuser", False) and user.is_active:
        return Workspace.objects.all()
    return Workspace.objects.filter(pk__in=workspace_ids_where(user, action))


def forbidden_message(role: str | None, action: Action) -> str:
    needed = min((r for r, actions in ROLE_ACTIONS.items() if action in actions), key=lambda r: len(ROLE_ACTIONS[r]))
    label = Role(needed).label.lower()
    return (f"Your role ({Role(role).label.lower() if role else 'none'}) does not allow this; "
            f"ask a workspace admin: it takes a {label}.")


# --- API key scopes ----------------------------------------------------------------------------------

Scope = ApiKey.Scope


class Operation(enum.StrEnum):
    """The kinds of API operation a scope is checked against."""

    READ = "read"  # every GET
    ENTRIES = "entries"  # POST /api/v1/canvases/{id}/entries/, and sending a segment's snapshots
    WRITE = "write"  # everything else: creating, changing, deleting, launching, settings, erasure


#: Which operations each API key scope may call.
KEY_SCOPE_OPERATIONS: dict[str, frozenset[Operation]] = {
    Scope.ENTRIES: frozenset({Operation.ENTRIES}),
    Scope.READ: frozenset({Operation.READ}),
    Scope.FULL: frozenset(Operation),
}


def scope_allows(scope: str, operation: Operation) -> bool:
    return operation in KEY_SCOPE_OPERATIONS.get(scope, frozenset())


def scopes_allowing(operation: Operation) -> list[str]:
    return [scope for scope in Scope.values if scope_allows(scope, operation)]


def rights(user, workspace: Workspace | int) -> dict[str, bool]:
    """{action name: allowed} in the workspace, for templates: `{% if may.canvas_run %}` shows Launch."""
    return {action.name.lower(): can(user, workspace, action) for action in Action}


def rights_anywhere(user) -> dict[str, bool]:
    """{action name: allowed in some workspace}, for pages that are not about one workspace."""
    return {action.name.lower(): can_anywhere(user, action) for action in Action}
