"""`Authorization: Bearer <key>` with a workspace API key (integrations.api_keys)."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from integrations.api_keys import InvalidApiKey, api_key_authenticate
from integrations.models import ApiKey, Workspace


@dataclass(frozen=True)
class ApiClient:
    """The caller behind an API key: request.user in API views. Everything it reaches is its workspace's."""

    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False

    @property
    def workspace(self) -> Workspace:
        return self.api_key.workspace

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix} of {self.api_key.workspace.slug}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        try:
            header = header.decode("latin-1")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The Authorization header is not readable.") from None
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() != self.keyword.lower() or not key.strip() or " " in key.strip():
            raise exceptions.AuthenticationFailed(
                "Send the API key as “Authorization: Bearer <key>”."
            )
        try:
            api_key = api_key_authenticate(key.strip())
        except InvalidApiKey as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        return ApiClient(api_key), api_key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 when no key is sent.
        return f'{self.keyword} realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A workspace API key (`python manage.py api_key_create --workspace SLUG`), "
            "sent as `Authorization: Bearer pas_…`.",
        }
