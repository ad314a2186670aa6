"""The admin page where a workspace admin requires two-factor authentication of every member.

Every member of the workspace may read it (whether the workspace requires
it, and which members have set it up); only a workspace admin or a
superuser is offered the switch, and only they may change it (anyone else
gets 403 and nothing changes). Someone outside the workspace gets 404.

Also the superusers' list of authenticators, which never shows their secrets.
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from integrations import roles
from integrations.services.workspaces import workspace_require_mfa
from integrations.mfa import may_require_mfa, users_with_second_factor
from integrations.models import Workspace


def workspace_mfa_view(request, workspace_id: int, *, admin_site):
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None or roles.role_of(request.user, workspace) is None:
        raise Http404("No such workspace.")
    may_change = may_require_mfa(request.user, workspace)
    if request.method == "POST":
        if not may_change:
            raise roles.Forbidden("Only a workspace admin can require two-factor authentication of its members.")
        required = request.POST.get("require_mfa") == "on"
        changed = workspace_require_mfa(workspace=workspace, required=required)
        if changed and required:
            messages.success(request, f"{workspace} now requires two-factor authentication: members without it "
                                      "are asked to set it up before anything else.")
        elif changed:
            messages.success(request, f"{workspace} no longer requires two-factor authentication.")
        return HttpResponseRedirect(reverse("admin:integrations_workspace_mfa", args=[workspace.pk]))
    memberships = list(workspace.memberships.select_related("user").order_by("user__username"))
    with_mfa = users_with_second_factor([m.user_id for m in memberships])
    members = [{"user": m.user, "role": m.get_role_display(), "has_mfa": m.user_id in with_mfa} for m in memberships]
    return TemplateResponse(request, "admin/integrations/workspace/mfa.html", {
        **admin_site.each_context(request), "opts": Workspace._meta, "workspace": workspace,
        "title": f"Two-factor authentication for {workspace}", "may_change": may_change, "members": members,
        "members_without": sum(1 for m in members if not m["has_mfa"]),
    })


class AuthenticatorAdmin(admin.ModelAdmin):
    """Who has which second factor, for superusers, without the secrets allauth's own admin shows.

    A superuser deletes a member's authenticators (the app and the recovery codes) when the member
    has lost both; the member then sets two-factor authentication up anew.
    """

    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type"]
    search_fields = ["user__username", "user__email"]
    fields = ["user", "type", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


if admin.site.is_registered(Authenticator):
    admin.site.unregister(Authenticator)
admin.site.register(Authenticator, AuthenticatorAdmin)
