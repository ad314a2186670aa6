"""Only callers with a workspace API key get in."""

from rest_framework import exceptions, permissions

from audiences.api.authentication import ApiClient


class HasWorkspaceKey(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        if request.user is None or not getattr(request.user, "is_authenticated", False):
            raise exceptions.NotAuthenticated(
                "No API key: send your workspace's key as “Authorization: Bearer <key>”."
            )
        if not isinstance(request.user, ApiClient):
            raise exceptions.PermissionDenied("This API is for workspace API keys only.")
        return True
