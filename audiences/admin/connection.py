"""The banner every marketer page shows when the workspace's Pinterest connection cannot sync."""

from __future__ import annotations

from django.urls import reverse

from integrations.models import PinterestConnection, Workspace


def connection_problem(workspace: Workspace) -> dict | None:
    """What the connection banner says when the workspace cannot sync (None when it can)."""
    connection = PinterestConnection.objects.filter(workspace=workspace).first()
    url = reverse("integrations:partner", args=[workspace.slug])
    if connection is None:
        return {"workspace": workspace, "status": "Not connected", "last_error": "", "url": url}
    if connection.status == PinterestConnection.Status.VALID:
        return None
    return {
        "workspace": workspace,
        "status": connection.get_status_display(),
        "last_error": connection.last_error,
        "url": url,
    }
