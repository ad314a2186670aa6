"""The marketer's Pinterest partner page: connect, choose ad accounts, disconnect.

Short views: the OAuth state lives in integrations.pinterest.oauth, the code
exchange in the client, every write in integrations.services. Members of a
workspace (and superusers) see its page; anyone else gets a 404. Connecting,
reconnecting, disconnecting and choosing ad accounts are a workspace admin's
(integrations.roles): the page offers them to admins only, and answers 403
to anyone else who asks.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from integrations import roles
from integrations.services.connections import ad_accounts_enable, connection_connect_with_code, connection_disconnect
from integrations.models import PinterestConnection, Workspace
from integrations.pinterest import client as pinterest
from integrations.pinterest import oauth
from integrations.roles import Action


def _workspace(request, slug: str) -> Workspace:
    workspaces = Workspace.objects.all()
    if not request.user.is_superuser:
        workspaces = workspaces.filter(memberships__user=request.user)
    return get_object_or_404(workspaces, slug=slug)


def _connection(workspace: Workspace) -> PinterestConnection | None:
    return PinterestConnection.objects.filter(workspace=workspace).first()


def _render(request, template: str, context: dict, *, status: int = 200):
    # The admin's own context, so these pages look and navigate like the admin.
    return render(request, template, {**admin.site.each_context(request), **context}, status=status)


@login_required
def partner(request, slug: str):
    workspace = _workspace(request, slug)
    connection = _connection(workspace)
    return _render(
        request,
        "integrations/partner.html",
        {
            "title": f"Pinterest for {workspace}",
            "workspace": workspace,
            "connection": connection,
            **_ad_account_lists(connection),
            "Status": PinterestConnection.Status,
            "may": roles.rights(request.user, workspace),
        },
    )


def _ad_account_lists(connection: PinterestConnection | None) -> dict:
    """The ad accounts the connected Pinterest user sees, and those kept from an earlier user."""
    rows = list(connection.ad_accounts.all()) if connection else []
    return {
        "ad_accounts": [row for row in rows if row.available],
        "unavailable_ad_accounts": [row for row in rows if not row.available],
    }


@login_required
@require_POST
def connect(request, slug: str):
    workspace = _workspace(request, slug)
    roles.require(request.user, workspace, Action.CONNECTION_MANAGE)
    if not request.POST.get("accept_terms"):
        messages.error(request, "To connect Pinterest, tick the box to accept Pinterest's advertising terms.")
        return redirect("integrations:partner", workspace.slug)
    return redirect(oauth.authorize_url(request, workspace_slug=workspace.slug, terms_accepted=True))


@login_required
def callback(request):
    pending = oauth.consume_state(request, request.GET.get("state"))
    if pending is None:
        # A missing or unknown state may be a forged request: store nothing.
        return _render(request, "integrations/oauth_refused.html", {"title": "Pinterest connection refused"},
                       status=403)
    workspace = _workspace(request, pending.workspace_slug)
    roles.require(request.user, workspace, Action.CONNECTION_MANAGE)  # the role may have changed meanwhile
    error = request.GET.get("error")
    if error == "access_denied":
        messages.error(
            request,
            "Pinterest was not connected: access was declined on Pinterest's consent page. "
            "Nothing was changed. To connect, click Connect Pinterest and choose Allow.",
        )
        return redirect("integrations:partner", workspace.slug)
    if error or not request.GET.get("code"):
        messages.error(
            request,
            f"Pinterest did not connect ({(error or 'no authorization code')[:100]}). Nothing was changed; try again.",
        )
        return redirect("integrations:partner", workspace.slug)
    try:
        connection = connection_connect_with_code(
            workspace=workspace,
            code=request.GET["code"],
            redirect_uri=oauth.redirect_uri(request),
            accepted_by=request.user if pending.terms_accepted else None,
        )
    except pinterest.PinterestError as exc:
        messages.error(request, f"Pinterest refused the connection: {exc.message}. Nothing was changed; try again.")
        return redirect("integrations:partner", workspace.slug)
    who = connection.pinterest_username or connection.pinterest_user_id
    messages.success(request, f"Pinterest is connected as {who}. Now choose the ad accounts this workspace may use.")
    gone = connection.ad_accounts.filter(available=False).count()
    if gone:
        messages.warning(
            request,
            f"{gone} ad account{'s' if gone != 1 else ''} used before {'are' if gone != 1 else 'is'} not visible to {who}, "
            "so canvases cannot sync to them: their steps are refused at launch. Reconnect as a Pinterest user "
            "who can see them, or choose another ad account in those steps.",
        )
    return redirect("integrations:ad_accounts", workspace.slug)


@login_required
@require_http_methods(["GET", "POST"])
def ad_accounts(request, slug: str):
    workspace = _workspace(request, slug)
    roles.require(request.user, workspace, Action.AD_ACCOUNTS_CHOOSE)
    connection = _connection(workspace)
    if connection is None or connection.status == PinterestConnection.Status.DISCONNECTED:
        messages.error(request, "Connect Pinterest first, then choose its ad accounts.")
        return redirect("integrations:partner", workspace.slug)
    if request.method == "POST":
        ad_accounts_enable(connection=connection, enabled_ids=request.POST.getlist("ad_account"))
        enabled = connection.ad_accounts.filter(enabled=True).count()
        messages.success(request, f"Saved: this workspace may use {enabled} ad account{'s' if enabled != 1 else ''}.")
        return redirect("integrations:partner", workspace.slug)
    return _render(
        request,
        "integrations/ad_accounts.html",
        {
            "title": "Choose the ad accounts this workspace may use",
            "workspace": workspace,
            "connection": connection,
            **_ad_account_lists(connection),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request, slug: str):
    workspace = _workspace(request, slug)
    roles.require(request.user, workspace, Action.CONNECTION_MANAGE)
    connection = _connection(workspace)
    if connection is None or connection.status == PinterestConnection.Status.DISCONNECTED:
        messages.info(request, "Pinterest is not connected.")
        return redirect("integrations:partner", workspace.slug)
    if request.method == "POST":
        connection_disconnect(connection=connection)
        messages.success(
            request,
            "Pinterest is disconnected. Canvases keep their steps; their users wait as pending until you connect again.",
        )
        return redirect("integrations:partner", workspace.slug)
    return _render(
        request,
        "integrations/disconnect.html",
        {"title": "Disconnect Pinterest?", "workspace": workspace, "connection": connection},
    )
