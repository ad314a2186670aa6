"""The browser half of Pinterest's OAuth 2.0 code flow: the authorize URL and its state.

https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/
(API-NOTES 1.1). The code exchange itself is in client.exchange_code.

`state` is a one-time random value kept in the marketer's session together
with the workspace being connected; the callback must bring the same value
back (otherwise it may be a forged request: 403). Each state is used at most
once and expires after STATE_MAX_AGE_SECONDS. Several may be pending at
once, so a marketer can connect two workspaces in two tabs.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare

SESSION_KEY = "pinterest_oauth_states"
STATE_MAX_AGE_SECONDS = 15 * 60
MAX_PENDING_STATES = 5


@dataclass(frozen=True)
class PendingConnect:
    """What the marketer asked for before leaving for Pinterest."""

    workspace_slug: str
    user_id: int
    terms_accepted: bool


def redirect_uri(request) -> str:
    """The absolute callback URL; it must be registered for the app at Pinterest."""
    return request.build_absolute_uri(reverse("integrations:callback"))


def authorize_url(request, *, workspace_slug: str, terms_accepted: bool) -> str:
    """Remember a fresh state in the session and return Pinterest's consent URL."""
    state = secrets.token_urlsafe(32)
    pending = _live_states(request)
    pending[state] = {
        "workspace": workspace_slug,
        "user": request.user.pk,
        "terms": bool(terms_accepted),
        "at": time.time(),
    }
    # Keep only the newest few: an abandoned consent page must not grow the session.
    newest = sorted(pending.items(), key=lambda item: item[1]["at"])[-MAX_PENDING_STATES:]
    request.session[SESSION_KEY] = dict(newest)
    params = {
        "client_id": settings.PINTEREST_CLIENT_ID,
        "redirect_uri": redirect_uri(request),
        "response_type": "code",
        # Pinterest documents commas between scopes (API-NOTES 1.1).
        "scope": settings.PINTEREST_OAUTH_SCOPES,
        "state": state,
    }
    separator = "&" if "?" in settings.PINTEREST_OAUTH_AUTHORIZE_URL else "?"
    return settings.PINTEREST_OAUTH_AUTHORIZE_URL + separator + urlencode(params)


def consume_state(request, received: str | None) -> PendingConnect | None:
    """The pending connect that `received` belongs to, or None. A state works once."""
    if not received:
        return None
    pending = _live_states(request)
    match = next((key for key in pending if constant_time_compare(key, received)), None)
    if match is None:
        request.session[SESSION_KEY] = pending
        return None
    entry = pending.pop(match)
    request.session[SESSION_KEY] = pending
    if entry["user"] != request.user.pk:
        return None
    return PendingConnect(workspace_slug=entry["workspace"], user_id=entry["user"], terms_accepted=entry["terms"])


def _live_states(request) -> dict:
    stored = request.session.get(SESSION_KEY)
    if not isinstance(stored, dict):
        return {}
    oldest = time.time() - STATE_MAX_AGE_SECONDS
    return {key: value for key, value in stored.items() if isinstance(value, dict) and value.get("at", 0) > oldest}
