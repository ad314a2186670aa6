"""Two-factor authentication that a workspace may require of every member.

Members set up an authenticator app (TOTP) and recovery codes with
django-allauth's `mfa` app (/accounts/2fa/); once set up, sign-in asks for a
code after the password. A workspace admin may require it of every member
(`Workspace.require_mfa`, written by `integrations.services.workspace_require_mfa`).
A signed-in member of such a workspace who has no authenticator app is sent
to set one up before any other page (RequireMFAMiddleware).
"""

from __future__ import annotations

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse

from integrations import crypto, roles
from integrations.models import Workspace


class EncryptingMFAAdapter(DefaultMFAAdapter):
    """allauth's MFA adapter with the TOTP secrets and recovery-code seeds encrypted at rest.

    With the same keys as the Pinterest tokens (integrations.crypto,
    TOKEN_ENCRYPTION_KEYS): a copy of the database alone cannot produce a
    member's codes. `rotate_token_key` re-encrypts them too.
    """

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)


# The encrypted values of an authenticator's `data`, by authenticator type (allauth.mfa's layout).
_ENCRYPTED_KEYS = {Authenticator.Type.TOTP: ("secret",), Authenticator.Type.RECOVERY_CODES: ("seed",)}


def authenticators_rotate_key() -> tuple[int, list[Authenticator]]:
    """Re-encrypt every TOTP secret and recovery-code seed with the first of TOKEN_ENCRYPTION_KEYS.

    Returns (authenticators rotated, authenticators no configured key opens); those are left as they are.
    """
    rotated, failed = 0, []
    for pk in Authenticator.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            # Locked, so a recovery code being used now is not marked unused again.
            authenticator = Authenticator.objects.select_for_update().select_related("user").get(pk=pk)
            data = dict(authenticator.data)
            try:
                for key in _ENCRYPTED_KEYS.get(authenticator.type, ()):
                    if key in data:
                        data[key] = crypto.rotate(data[key])
                if "migrated_codes" in data:
                    data["migrated_codes"] = [crypto.rotate(code) for code in data["migrated_codes"]]
            except crypto.TokenDecryptionError:
                failed.append(authenticator)
                continue
            authenticator.data = data
            authenticator.save(update_fields=["data"])
            rotated += 1
    return rotated, failed


def may_require_mfa(user, workspace: Workspace) -> bool:
    """Whether the user may require (or stop requiring) a second factor of the workspace's members.

    Workspace admins of this workspace and superusers may: it decides how
    every member signs in, like choosing who is a member.
    """
    return roles.can(user, workspace, roles.Action.MEMBERS_MANAGE)


def has_second_factor(user) -> bool:
    """Whether the user signs in with an authenticator app (recovery codes alone are not a second factor)."""
    return is_mfa_enabled(user, [Authenticator.Type.TOTP])


def users_with_second_factor(user_ids) -> set[int]:
    """Which of these users sign in with an authenticator app (one query)."""
    return set(Authenticator.objects.filter(user_id__in=list(user_ids), type=Authenticator.Type.TOTP)
               .values_list("user_id", flat=True))


def workspaces_requiring_mfa(user):
    """The workspaces of which the user is a member that require a second factor."""
    if not (user is not None and user.is_authenticated):
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=user, require_mfa=True).order_by("name", "slug")


def _exempt_prefixes() -> tuple[str, ...]:
    # The pages that set up a second factor (and the password check they may ask for first), signing
    # out, static files, and what is not a person's: the API (keys, not people), health and metrics.
    return (
        reverse("mfa_index"),
        reverse("account_reauthenticate"),
        reverse("account_logout"),
        reverse("admin:logout"),
        "/" + settings.STATIC_URL.lstrip("/"),
        "/api/",
        reverse("healthz"),
        reverse("metrics"),
    )


class RequireMFAMiddleware:
    """Sends a member of a workspace that requires a second factor, who has none yet, to set one up.

    Every page but those of `_exempt_prefixes` redirects to the set-up page;
    the set-up pages say why (`request.mfa_required_by`, the workspaces).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):  # API keys are not people; their session is not even read
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        required_by = list(workspaces_requiring_mfa(user))
        if required_by and not has_second_factor(user):
            request.mfa_required_by = required_by
            if not request.path.startswith(_exempt_prefixes()):
                return HttpResponseRedirect(reverse("mfa_activate_totp"))
        return self.get_response(request)
