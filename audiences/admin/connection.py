"""The banners marketer pages show when a workspace cannot sync, and the Pinterest links of every admin page.

A banner says what happened and what to do in plain words first; Pinterest's
technical reason stays behind a disclosure. `pinterest_context` is added to
every admin page's context (admin.site.each_context), so the header links to
the workspace's Pinterest page and the home page shows the same banners.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.urls import reverse

from integrations.admin import user_workspaces
from integrations.models import AdAccount, PinterestConnection, Workspace

# A superuser may see many workspaces; the header and home page list a few.
MAX_WORKSPACES_SHOWN = 10


def connection_problem(workspace: Workspace) -> dict | None:
    """What the connection banner says when the workspace cannot sync (None when it can)."""
    try:
        connection = workspace.pinterest_connection  # one query, or none when select_related read it
    except PinterestConnection.DoesNotExist:
        connection = None
    url = reverse("integrations:partner", args=[workspace.slug])
    waiting = "Users who reach an Audience Sync step wait as pending; nothing is lost."
    if connection is None:
        return {
            "headline": f"Pinterest is not connected for {workspace}.",
            "body": f"{waiting} Connect Pinterest and they are sent at once.",
            "action": "Connect Pinterest", "url": url, "detail": "",
        }
    if connection.status == PinterestConnection.Status.VALID:
        return None
    if connection.status == PinterestConnection.Status.DISCONNECTED:
        return {
            "headline": f"Pinterest is disconnected for {workspace}.",
            "body": f"{waiting} Connect Pinterest again and they are sent at once.",
            "action": "Connect Pinterest", "url": url, "detail": "",
        }
    return {
        "headline": f"Pinterest needs reconnecting for {workspace}: it no longer accepts this workspace's sign-in.",
        "body": f"{waiting} Open the Pinterest page and click Reconnect; they are sent at once.",
        "action": "Reconnect Pinterest", "url": url, "detail": connection.last_error,
    }


def ad_account_problems(steps: Iterable) -> list[dict]:
    """A banner per ad account that steps use and the connected Pinterest user can no longer see."""
    unavailable: dict[int, tuple[AdAccount, list[str]]] = {}
    for step in steps:
        account = step.ad_account
        if account is not None and not account.available:
            unavailable.setdefault(account.pk, (account, []))[1].append(str(step))
    problems = []
    for account, names in unavailable.values():
        workspace = account.connection.workspace
        who = account.connection.pinterest_username or "the connected Pinterest user"
        problems.append({
            "headline": f"Ad account {account} is not available: {who} cannot see it.",
            "body": (
                f"{'Steps' if len(names) > 1 else 'Step'} {', '.join(f'“{n}”' for n in names)} cannot sync to it, "
                "and a canvas using it cannot launch. Reconnect Pinterest as a user who can see this ad account, "
                "or choose another ad account and audience in the step."
            ),
            "action": "Open the Pinterest page",
            "url": reverse("integrations:partner", args=[workspace.slug]),
            "detail": "",
        })
    return problems


def page_problems(workspace: Workspace, steps: Iterable = ()) -> list[dict]:
    """Every banner of a page about this workspace (and these steps)."""
    problem = connection_problem(workspace)
    return ([problem] if problem else []) + ad_account_problems(steps)


def pinterest_context(request) -> dict:
    """The signed-in member's workspaces with their Pinterest page and problem, for every admin page."""
    if not (request.user.is_authenticated and request.user.is_staff):
        return {}
    workspaces = list(user_workspaces(request).select_related("pinterest_connection")[:MAX_WORKSPACES_SHOWN])
    pages = []
    for workspace in workspaces:
        pages.append({
            "workspace": workspace,
            "url": reverse("integrations:partner", args=[workspace.slug]),
            "problem": connection_problem(workspace),
        })
    return {"pinterest_pages": pages, "pinterest_problems": [page["problem"] for page in pages if page["problem"]]}


_each_context = admin.site.each_context


def _each_context_with_pinterest(request):
    return {**_each_context(request), **pinterest_context(request)}


admin.site.each_context = _each_context_with_pinterest
