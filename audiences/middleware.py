"""Tells the audit log who is behind each web request (audiences.services.audit)."""

from __future__ import annotations

from audiences.models import AuditEvent
from audiences.services.audit import Actor, acting_lazily


class AuditActorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with acting_lazily(lambda: actor_of(request)):
            return self.get_response(request)


def actor_of(request) -> Actor:
    """An API key (DRF puts it on the request when it authenticates), else the signed-in user."""
    ip = request.META.get("REMOTE_ADDR") or None
    user = getattr(request, "user", None)
    api_key = getattr(user, "api_key", None)
    if api_key is not None:
        return Actor(AuditEvent.Source.API, f"API key {api_key.prefix}", ip)
    source = AuditEvent.Source.ADMIN if request.path.startswith("/admin/") else AuditEvent.Source.WEB
    if user is not None and user.is_authenticated:
        return Actor(source, user.get_username(), ip)
    return Actor(source, "", ip)
