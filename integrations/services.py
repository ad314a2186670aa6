"""The only writers of workspaces and Pinterest connections.

Views, admin, API, tasks and commands call these functions; none of them
writes the models directly.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations import crypto
from integrations.signals import audited, connection_valid
from integrations.crypto import TokenDecryptionError
from integrations.models import AdAccount, Membership, PinterestConnection, Workspace, validate_workspace_slug
from integrations.pinterest import client as pinterest
from integrations.pinterest import ratelimit

logger = logging.getLogger(__name__)
T = TypeVar("T")


class ConnectionUnusable(Exception):
    """The workspace has no valid Pinterest connection; users wait as pending."""


class TokenUnreadable(ConnectionUnusable, TokenDecryptionError):
    """No configured key opens the stored token: the connection is marked invalid."""


class InvalidWorkspace(ValueError):
    """The slug or name cannot be a workspace's; nothing was created."""


# --- Workspaces ------------------------------------------------------------------------

WORKSPACE_NAME_MAX_LENGTH = 200


def workspace_create(*, slug: str, name: str = "") -> Workspace:
    """The workspace with this slug, created when there is none (idempotent).

    Raises InvalidWorkspace for a slug that is not a Django slug of 1 to 50
    characters (it is part of the workspace's page URLs) or a name over 200
    characters or with control characters.
    """
    try:
        validate_workspace_slug(slug)
    except ValidationError as exc:
        raise InvalidWorkspace(f"Invalid workspace slug: {' '.join(exc.messages)}") from None
    if not isinstance(name, str) or len(name) > WORKSPACE_NAME_MAX_LENGTH:
        raise InvalidWorkspace(f"A workspace name is at most {WORKSPACE_NAME_MAX_LENGTH} characters.")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000 for c in name):
        raise InvalidWorkspace("A workspace name cannot hold control characters.")
    workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": name.strip() or slug})
    return workspace


def workspace_add_member(*, workspace: Workspace, user, role: str = Membership.Role.MARKETER) -> Membership:
    membership, _ = Membership.objects.update_or_create(workspace=workspace, user=user, defaults={"role": role})
    return membership


def user_create_marketer(*, workspace: Workspace, username: str, password: str, email: str = "") -> object:
    """A staff user who can sign in to the admin and sees only this workspace."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"email": email, "is_staff": True})
    if created:
        user.set_password(password)
        user.save()
    workspace_add_member(workspace=workspace, user=user)
    return user


class InvalidMarketer(ValueError):
    """The email cannot name a marketer: nothing was created."""


def marketer_invite(*, workspace: Workspace, email: str) -> tuple[object, bool]:
    """A staff user for `email` who sees only this workspace, and whether it was created now.

    A new user has no password: they set one through the link of
    `marketer_sign_in_path`. An existing user keeps theirs and joins the
    workspace. Superusers are refused: they see every workspace already.
    """
    from django.core.validators import validate_email

    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidMarketer(f"“{email[:100]}” is not an email address.") from None
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).order_by("pk").first()
        created = user is None
        if created:
            username = email.lower()[:150]
            if User.objects.filter(username__iexact=username).exists():
                raise InvalidMarketer(f"A user named “{username}” exists with another email; use that email.")
            user = User(username=username, email=email.lower(), is_staff=True)
            user.set_unusable_password()
            user.save()
        elif user.is_superuser:
            raise InvalidMarketer(f"{email} is a superuser and sees every workspace already.")
        elif not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        workspace_add_member(workspace=workspace, user=user)
    return user, created


def marketer_sign_in_path(user) -> str:
    """The path of a one-time link where `user` sets their password (allauth's password reset key).

    The link stops working once used, or once the password changes.
    """
    from allauth.account import app_settings as allauth_settings
    from allauth.account.utils import user_pk_to_url_str
    from django.urls import reverse

    key = f"{user_pk_to_url_str(user)}-{allauth_settings.PASSWORD_RESET_TOKEN_GENERATOR().make_token(user)}"
    path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
    return path.replace("UID-KEY", key)


# --- Connections -----------------------------------------------------------------------------


def client_for(connection: PinterestConnection) -> pinterest.PinterestClient:
    """A client for this connection's token that goes through the shared rate limiter."""
    key = ratelimit.key_for(connection)
    return pinterest.PinterestClient(
        connection.access_token,
        before_request=lambda: ratelimit.acquire(key),
        on_rate_limited=lambda exc: ratelimit.pause(key, exc.retry_after if exc.retry_after is not None else 1.0),
    )


def _expiry(seconds: int | None):
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
        connection.access_token_expires_at = _expiry(tokens.expires_in)
        connection.refresh_token_expires_at = _expiry(tokens.refresh_token_expires_in)
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


def connections_rotate_token_key() -> tuple[int, list[PinterestConnection]]:
    """Re-encrypt every stored token with the first of TOKEN_ENCRYPTION_KEYS.

    Returns (connections rotated, connections whose tokens no configured key
    opens). Those are left as they are: add their old key, or reconnect them.
    """
    rotated, failed = 0, []
    for pk in PinterestConnection.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            # Locked, so a token refresh running now cannot be overwritten with an older pair.
            connection = PinterestConnection.objects.select_for_update().get(pk=pk)
            try:
                access = crypto.rotate(connection.access_token_encrypted)
                refresh = crypto.rotate(connection.refresh_token_encrypted)
            except crypto.TokenDecryptionError:
                failed.append(connection)
                continue
            connection.access_token_encrypted = access
            connection.refresh_token_encrypted = refresh
            connection.save(update_fields=["access_token_encrypted", "refresh_token_encrypted", "updated_at"])
            rotated += 1
    return rotated, failed


def connection_mark_invalid(*, connection: PinterestConnection, reason: str) -> None:
    PinterestConnection.objects.filter(pk=connection.pk).update(
        status=PinterestConnection.Status.INVALID, last_error=reason[:1000], last_error_at=timezone.now()
    )
    connection.status = PinterestConnection.Status.INVALID
    connection.last_error = reason
    logger.warning("Pinterest connection %s marked invalid: %s", connection.pk, reason)


def _refresh_lease_seconds() -> float:
    # Longer than the token request can take (connect and read timeouts), so a
    # lease runs out only when its holder died.
    return 2 * settings.PINTEREST_HTTP_TIMEOUT + 10


def connection_refresh(*, connection: PinterestConnection, seen_access_token_ciphertext: str | None = None,
                       wait_seconds: float | None = None) -> PinterestConnection:
    """Exchange the refresh token for a new pair and store both.

    Serialised per connection by a lease on the row, and no transaction is
    open while Pinterest answers:

    1. a conditional UPDATE takes the lease (only when nobody holds a live
       one and the token is still the one read);
    2. the token request goes out, outside any transaction;
    3. one UPDATE stores the new pair and ends the lease, unless the
       workspace reconnected or disconnected meanwhile (the lease is gone).

    A caller that finds the lease taken waits for it (up to `wait_seconds`,
    by default the lease's length) and re-reads: when the token changed since
    the caller read it (`seen_access_token_ciphertext`, else the token read
    on entry), that new token is used instead of spending the rotated
    refresh token again. Raises AuthError when Pinterest refuses; the caller
    marks the connection. TransientError when the lease is not freed in time.
    """
    seen = seen_access_token_ciphertext
    owner = uuid.uuid4().hex
    lease = _refresh_lease_seconds()
    deadline = time.monotonic() + (lease if wait_seconds is None else wait_seconds)
    while True:
        fresh = PinterestConnection.objects.get(pk=connection.pk)
        if fresh.status != PinterestConnection.Status.VALID:
            raise ConnectionUnusable(fresh.last_error or "The Pinterest connection is not valid.")
        if seen is None:
            seen = fresh.access_token_encrypted
        elif fresh.access_token_encrypted != seen:
            return fresh  # refreshed by someone else meanwhile
        now = timezone.now()
        taken = (
            PinterestConnection.objects.filter(
                pk=fresh.pk, status=PinterestConnection.Status.VALID, access_token_encrypted=seen
            )
            .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lte=now))
            .update(refresh_lease_owner=owner, refresh_lease_until=now + timedelta(seconds=lease))
        )
        if taken:
            break
        if time.monotonic() >= deadline:
            raise pinterest.TransientError("Another process is refreshing this connection's token; try again shortly.")
        time.sleep(0.1)

    try:
        tokens = pinterest.refresh_tokens(refresh_token=fresh.refresh_token)
    except pinterest.RequestError as exc:
        _refresh_lease_release(fresh.pk, owner)
        # Pinterest answers a dead refresh token with a 4xx: the grant is gone.
        raise pinterest.AuthError(f"Refreshing the token failed: {exc.message}", status=exc.status,
                                  code=exc.code, request_id=exc.request_id) from None
    except BaseException:
        _refresh_lease_release(fresh.pk, owner)
        raise

    now = timezone.now()
    fresh.set_tokens(access_token=tokens.access_token, refresh_token=tokens.refresh_token)
    changes = {
        "access_token_encrypted": fresh.access_token_encrypted,
        "refresh_token_encrypted": fresh.refresh_token_encrypted,
        "access_token_expires_at": _expiry(tokens.expires_in),
        "last_refreshed_at": now,
        "refresh_lease_owner": "",
        "refresh_lease_until": None,
        "updated_at": now,
    }
    if tokens.refresh_token_expires_in:
        changes["refresh_token_expires_at"] = _expiry(tokens.refresh_token_expires_in)
    with transaction.atomic():
        if db_connection.vendor == "postgresql":
            # Pinterest has rotated the refresh token: the new pair must reach the
            # disk before anything goes on, even from a session that relaxed its commits.
            with db_connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO ON")
        stored = PinterestConnection.objects.filter(pk=fresh.pk, refresh_lease_owner=owner).update(**changes)
    if not stored:
        # Reconnected or disconnected while Pinterest answered: that grant wins.
        logger.info("connection %s changed while its token was refreshed; the refreshed pair is dropped", fresh.pk)
        fresh = PinterestConnection.objects.get(pk=fresh.pk)
        if fresh.status != PinterestConnection.Status.VALID:
            raise ConnectionUnusable(fresh.last_error or "The Pinterest connection is not valid.")
        return fresh
    return PinterestConnection.objects.get(pk=fresh.pk)


def _refresh_lease_release(pk: int, owner: str) -> None:
    PinterestConnection.objects.filter(pk=pk, refresh_lease_owner=owner).update(
        refresh_lease_owner="", refresh_lease_until=None
    )


def connections_refresh_expiring(*, within: timedelta = timedelta(days=2)) -> int:
    """Refresh every valid connection whose access token expires soon (a schedule calls this)."""
    soon = timezone.now() + within
    refreshed = 0
    for connection in PinterestConnection.objects.filter(
        status=PinterestConnection.Status.VALID, access_token_expires_at__lt=soon
    ):
        try:
            connection_refresh(connection=connection, seen_access_token_ciphertext=connection.access_token_encrypted)
            refreshed += 1
        except pinterest.AuthError as exc:
            connection_mark_invalid(connection=connection, reason=f"Pinterest refused the token refresh ({exc}). Reconnect Pinterest.")
        except (pinterest.TransientError, pinterest.RateLimited) as exc:
            logger.warning("refresh of connection %s postponed: %s", connection.pk, exc)
        except ConnectionUnusable:
            pass
        except crypto.TokenDecryptionError as exc:
            # This deployment's keys, not the workspace's grant: go on with the other connections.
            logger.warning("refresh of connection %s skipped: %s", connection.pk, exc)
    return refreshed


def with_pinterest(connection: PinterestConnection, operation: Callable[[pinterest.PinterestClient], T]) -> T:
    """Run `operation` with the connection's client: a 401 gets one refresh and one retry.

    If Pinterest still refuses, the connection is marked invalid with the
    reason, and ConnectionUnusable is raised: nothing calls Pinterest with
    that token again until the workspace reconnects.
    """
    if not connection.is_usable:
        raise ConnectionUnusable(connection.last_error or "The workspace's Pinterest connection is not valid.")
    seen = connection.access_token_encrypted
    try:
        client = client_for(connection)
    except TokenDecryptionError:
        reason = ("The stored Pinterest token cannot be decrypted with TOKEN_ENCRYPTION_KEYS "
                  "(a key was removed?). Add the old key back, or reconnect Pinterest.")
        connection_mark_invalid(connection=connection, reason=reason)
        raise TokenUnreadable(reason) from None
    try:
        result = operation(client)
    except pinterest.AuthError:
        try:
            _adopt_tokens(connection, connection_refresh(connection=connection, seen_access_token_ciphertext=seen))
            result = operation(client_for(connection))
        except pinterest.AuthError as exc:
            reason = f"Pinterest refused the token ({exc}). Reconnect Pinterest to resume syncing."
            connection_mark_invalid(connection=connection, reason=reason)
            raise ConnectionUnusable(reason) from None
    now = timezone.now()
    if connection.last_success_at is None or now - connection.last_success_at > timedelta(minutes=1):
        # Health shown in the admin; once a minute is enough, not every request.
        PinterestConnection.objects.filter(pk=connection.pk).update(last_success_at=now)
        connection.last_success_at = now
    return result


def _adopt_tokens(connection: PinterestConnection, fresh: PinterestConnection) -> None:
    # The caller keeps using its own object (a sender sends several chunks with
    # it): give it the new token so the next call does not meet a 401 again.
    for field in ("access_token_encrypted", "refresh_token_encrypted", "access_token_expires_at",
                  "refresh_token_expires_at", "last_refreshed_at"):
        setattr(connection, field, getattr(fresh, field))


def _on_connection_valid(connection: PinterestConnection) -> None:
    # Users held while the connection was invalid are due again at once; the
    # audiences app listens (integrations never imports audiences).
    transaction.on_commit(lambda: connection_valid.send(sender=PinterestConnection, connection=connection))
