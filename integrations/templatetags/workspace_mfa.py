"""The signed-in person's workspaces and whether each requires two-factor authentication, for the two-factor page."""

from django import template
from django.urls import reverse

from integrations.mfa import may_require_mfa
from integrations.models import Workspace

register = template.Library()


@register.simple_tag
def your_workspaces_mfa(user) -> list[dict]:
    """[{workspace, url, may_change}] for the workspaces the user is a member of.

    `url` is the workspace's two-factor page in the admin; `may_change` says
    whether the user may require it there (integrations.mfa.may_require_mfa).
    A superuser reaches the other workspaces from the workspace list.
    """
    if not (user is not None and user.is_authenticated):
        return []
    workspaces = Workspace.objects.filter(memberships__user=user).order_by("name", "slug")[:50]
    return [
        {"workspace": workspace, "url": reverse("admin:integrations_workspace_mfa", args=[workspace.pk]),
         "may_change": may_require_mfa(user, workspace)}
        for workspace in workspaces
    ]
