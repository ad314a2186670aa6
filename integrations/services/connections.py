"""The only writer of Pinterest connections and their ad accounts.

Connecting (the OAuth grant stored encrypted), the ad accounts a workspace
chose, disconnecting, and marking a connection invalid when Pinterest
refuses its token. Calls with a connection's token are in
integrations.services.tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integrations.crypto import TokenDecryptionError
from integrations.models import AdAccount, PinterestConnection, Workspace
from integrations.pinterest import client as pinterest
from integrations.pinterest import ratelimit
from integrations.signals import audited, connection_valid

logger = logging.getLogger(__name__)


class ConnectionUnusable(Exception):
    """The workspace has no valid Pinterest connection; users wait as pending."""


class TokenUnreadable(ConnectionUnusable, TokenDecryptionError):
    """No configured key opens the stored token: the connection is marked invalid."""


def expiry_after(seconds: int | None):
    """When a token Pinterest says lives `seconds` runs out (None when Pinterest gives no lifetime)."""
    return timezone.now() + timedelta(seconds=seconds) if seconds else None


def connection_connect(
    *,
    workspace: Workspace,
    tokens: pinterest.TokenSet,
    enabled_ad_account_ids: Iterable[str] | None = None,
    keep_ad_account_choices: bool = False,
    accepted_by=None,
) -> PinterestConnection:
    """Store a new grant (encrypted), read the Pinterest user and all ad accounts.

    Enables the ad accounts named, or all of them when none are named. With
    `keep_ad_account_choices` (the marketer's connect flow) the ad accounts
    enabled before stay enabled and every other one starts disabled, so a
    reconnection never widens what the workspace chose.
    Connecting again replaces the tokens and makes an invalid connection valid.
    Raises ValueError, before calling Pinterest, when a named ad account id
    is not a Pinterest id.
    """
    if enabled_ad_account_ids is not None:
        enabled_ad_account_ids = _checked_ad_account_ids(enabled_ad_account_ids)
    account = pinterest.PinterestClient(tokens.access_token).user_account()
    # The user is known only now: count the call just made against their
    # budget, and send the rest through the shared limiter.
    key = ratelimit.key_for_user(account.id)
    ratelimit.record_request(key)
    ad_accounts = list(pinterest.PinterestClient(tokens.access_token, before_request=lambda: ratelimit.acquire(key)).ad_accounts())

    with transaction.atomic():
        connection, _ = PinterestConnection.objects.select_for_update().get_or_create(workspace=workspace)
        if keep_ad_account_choices:
            found = {item.id for item in ad_accounts}
            enabled_ad_account_ids = found & set(
                connection.ad_accounts.filter(enabled=True).values_list("pinterest_id", flat=True)
            )
        connection.set_tokens(access_token=tokens.access_token, refresh_token=tokens.refresh_token)
        connection.access_token_expires_at = expiry_after(tokens.expires_in)
        connection.refresh_token_expires_at = expiry_after(tokens.refresh_token_expires_in)
        connection.scope = tokens.scope
        connection.pinterest_user_id = account.id
        connection.pinterest_username = account.username
        connection.status = PinterestConnection.Status.VALID
        connection.last_error = ""
        connection.last_success_at = timezone.now()
        connection.connected_at = timezone.now()
        # A refresh of the old grant still under way must not store its tokens over this one.
        connection.refresh_lease_owner = ""
        connection.refresh_lease_until = None
        if accepted_by is not None:
            connection.terms_accepted_by = accepted_by
            connection.terms_accepted_at = timezone.now()
        connection.save()
        wanted = set(enabled_ad_account_ids) if enabled_ad_account_ids is not None else None
        ad_accounts_store(connection=connection, ad_accounts=ad_accounts, enabled_ids=wanted)
    logger.info("workspace %s connected Pinterest user %s (%d ad accounts)", workspace.slug, account.id, len(ad_accounts))
    audited.send(sender=PinterestConnection, workspace=workspace, action="connection.connect",
                 target=f"Pinterest user {account.username or account.id}",
                 details={"ad_accounts_enabled": sorted(connection.ad_accounts.filter(enabled=True)
                                                        .values_list("pinterest_id", flat=True))})
    _on_connection_valid(connection)
    return connection


def connection_connect_with_code(
    *, workspace: Workspace, code: str, redirect_uri: str, accepted_by=None
) -> PinterestConnection:
    """The end of the OAuth dance: exchange the authorization code and connect.

    Raises PinterestError when Pinterest refuses the code; nothing is stored then.
    """
    tokens = pinterest.exchange_code(code=code, redirect_uri=redirect_uri)
    return connection_connect(
        workspace=workspace, tokens=tokens, keep_ad_account_choices=True, accepted_by=accepted_by
    )


def ad_accounts_store(
    *, connection: PinterestConnection, ad_accounts: list[pinterest.AdAccount], enabled_ids: set[str] | None
) -> None:
    """Store the ad accounts the connected Pinterest user sees; the others become unavailable.

    A workspace that reconnects as another Pinterest user keeps the rows of
    the ad accounts that user cannot see (steps and audiences refer to them)
    but marks them unavailable and not enabled: a step using one is refused
    at launch instead of failing on Pinterest with "Ad account not found".
    """
    seen = set()
    for item in ad_accounts:
        seen.add(item.id)
        row, created = AdAccount.objects.update_or_create(
            connection=connection,
            pinterest_id=item.id,
            defaults={"name": item.name, "country": item.country, "currency": item.currency, "available": True},
        )
        if enabled_ids is None:
            enabled = True
        else:
            enabled = item.id in enabled_ids
        if row.enabled != enabled:
            row.enabled = enabled
            row.save(update_fields=["enabled"])
    gone = connection.ad_accounts.exclude(pinterest_id__in=seen).filter(available=True)
    for row in gone:
        logger.info("ad account %s is no longer visible to Pinterest user %s", row.pinterest_id,
                    connection.pinterest_user_id)
    gone.update(available=False, enabled=False)
    if enabled_ids is not None:
        unknown = enabled_ids - seen
        if unknown:
            raise ValueError(f"Ad accounts not found for this Pinterest user: {', '.join(sorted(unknown))}")


def _checked_ad_account_ids(ids: Iterable[str]) -> set[str]:
    ids = set(ids)
    if not all(pinterest.is_valid_id(value) for value in ids):
        raise ValueError(f"An ad account id is 1 to {pinterest.ID_MAX_LENGTH} digits.")
    return ids


def ad_accounts_enable(*, connection: PinterestConnection, enabled_ids: Iterable[str]) -> None:
    # Compared with the connection's own ad accounts only: anything else (a form's garbage) enables nothing.
    wanted = set(enabled_ids)
    changed = {}
    for row in connection.ad_accounts.filter(available=True):
        enabled = row.pinterest_id in wanted
        if row.enabled != enabled:
            row.enabled = enabled
            row.save(update_fields=["enabled"])
            changed[row.pinterest_id] = enabled
    if changed:
        audited.send(sender=AdAccount, workspace=connection.workspace, action="ad_accounts.choose",
                     target=str(connection), details={
                         "enabled": sorted(k for k, v in changed.items() if v),
                         "disabled": sorted(k for k, v in changed.items() if not v)})


def connection_disconnect(*, connection: PinterestConnection) -> None:
    """Forget the tokens. Canvases keep their steps; users wait until reconnection."""
    with transaction.atomic():
        connection.access_token_encrypted = ""
        connection.refresh_token_encrypted = ""
        connection.refresh_lease_owner = ""
        connection.refresh_lease_until = None
        connection.status = PinterestConnection.Status.DISCONNECTED
        connection.last_error = "Disconnected by the workspace."
        connection.last_error_at = timezone.now()
        connection.save()
        audited.send(sender=PinterestConnection, workspace=connection.workspace, action="connection.disconnect",
                     target=f"Pinterest user {connection.pinterest_username or connection.pinterest_user_id}")


def connection_mark_invalid(*, connection: PinterestConnection, reason: str) -> None:
    PinterestConnection.objects.filter(pk=connection.pk).update(
        status=PinterestConnection.Status.INVALID, last_error=reason[:1000], last_error_at=timezone.now()
    )
    connection.status = PinterestConnection.Status.INVALID
    connection.last_error = reason
    logger.warning("Pinterest connection %s marked invalid: %s", connection.pk, reason)


def _on_connection_valid(connection: PinterestConnection) -> None:
    # Users held while the connection was invalid are due again at once; the
    # audiences app listens (integrations never imports audiences).
    transaction.on_commit(lambda: connection_valid.send(sender=PinterestConnection, connection=connection))
