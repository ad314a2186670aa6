"""Only callers with a workspace API key get in, and only to the operations the key's scope allows."""

from rest_framework import exceptions, permissions

from audiences.api.authentication import ApiClient
from integrations import roles


class Forbidden(exceptions.PermissionDenied):
    """403 `forbidden`: the API key's scope (or the person's role) does not allow this; nothing was changed.

    Here rather than in errors.py, which imports DRF's views: DRF imports this
    module while its views load.
    """

    default_code = error_code = "forbidden"

    def __init__(self, detail: str, *, details: dict | None = None):
        super().__init__(detail, self.default_code)
        self.details = details or {}


class HasWorkspaceKey(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        if request.user is None or not getattr(request.user, "is_authenticated", False):
            raise exceptions.NotAuthenticated(
                "No API key: send your workspace's key as “Authorization: Bearer <key>”."
            )
        if not isinstance(request.user, ApiClient):
            raise exceptions.PermissionDenied("This API is for workspace API keys only.")
        return True


def key_operation(view, method: str) -> roles.Operation:
    """What kind of operation `method` on `view` is, for the scope check and the schema.

    A GET (or HEAD, OPTIONS) reads; a view names its other operations in
    `key_operations` ({"post": Operation.ENTRIES}); the rest write.
    """
    named = getattr(view, "key_operations", {}).get(method.lower())
    if named is not None:
        return named
    return roles.Operation.READ if method.upper() in permissions.SAFE_METHODS else roles.Operation.WRITE


class KeyScopeAllows(permissions.BasePermission):
    """403 `forbidden` when the key's scope does not cover the operation; the view never runs, nothing changes."""

    def has_permission(self, request, view) -> bool:
        client = request.user
        if not isinstance(client, ApiClient):
            return True  # HasWorkspaceKey answered already
        operation = key_operation(view, request.method)
        scope = client.api_key.scope
        if not roles.scope_allows(scope, operation):
            raise Forbidden(
                f"This API key's scope ({scope}) does not allow this operation; it takes a key with scope "
                f"{' or '.join(roles.scopes_allowing(operation))}. Nothing was changed.",
                details={"scope": scope, "required_scopes": roles.scopes_allowing(operation)},
            )
        return True
