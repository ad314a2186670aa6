"""Calls with a connection's token, and the token's upkeep: refresh and re-encryption.

`with_pinterest` is the one way the product calls Pinterest for a
workspace: a 401 gets one refresh and one retry, then the connection is
marked invalid (integrations.services.connections).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from django.conf import settings
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations import crypto
from integrations.crypto import TokenDecryptionError
from integrations.models import PinterestConnection
from integrations.pinterest import client as pinterest
from integrations.pinterest import ratelimit
from integrations.services.connections import (ConnectionUnusable, TokenUnreadable, connection_mark_invalid,
                                               expiry_after)

logger = logging.getLogger(__name__)
T = TypeVar("T")


def client_for(connection: PinterestConnection) -> pinterest.PinterestClient:
    """A client for this connection's token that goes through the shared rate limiter."""
    key = ratelimit.key_for(connection)
    return pinterest.PinterestClient(
        connection.access_token,
        before_request=lambda: ratelimit.acquire(key),
        on_rate_limited=lambda exc: ratelimit.pause(key, exc.retry_after if exc.retry_after is not None else 1.0),
    )


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
    owner = uuid.uuid4().hex
    fresh, taken = _refresh_lease_take(connection, seen_access_token_ciphertext, owner, wait_seconds)
    if not taken:
        return fresh  # refreshed by someone else meanwhile
    tokens = _refresh_request(fresh, owner)
    return _refresh_store(fresh, owner, tokens)


def _refresh_lease_take(connection: PinterestConnection, seen: str | None, owner: str,
                        wait_seconds: float | None) -> tuple[PinterestConnection, bool]:
    # Step 1: the row as read and whether this caller holds the lease now; a
    # token changed since `seen` comes back without the lease.
    lease = _refresh_lease_seconds()
    deadline = time.monotonic() + (lease if wait_seconds is None else wait_seconds)
    while True:
        fresh = PinterestConnection.objects.get(pk=connection.pk)
        if fresh.status != PinterestConnection.Status.VALID:
            raise ConnectionUnusable(fresh.last_error or "The Pinterest connection is not valid.")
        if seen is None:
            seen = fresh.access_token_encrypted
        elif fresh.access_token_encrypted != seen:
            return fresh, False
        now = timezone.now()
        taken = (
            PinterestConnection.objects.filter(
                pk=fresh.pk, status=PinterestConnection.Status.VALID, access_token_encrypted=seen
            )
            .filter(Q(refresh_lease_until__isnull=True) | Q(refresh_lease_until__lte=now))
            .update(refresh_lease_owner=owner, refresh_lease_until=now + timedelta(seconds=lease))
        )
        if taken:
            return fresh, True
        if time.monotonic() >= deadline:
            raise pinterest.TransientError("Another process is refreshing this connection's token; try again shortly.")
        time.sleep(0.1)


def _refresh_request(fresh: PinterestConnection, owner: str) -> pinterest.TokenSet:
    # Step 2: outside any transaction; the lease is given back when Pinterest fails.
    try:
        return pinterest.refresh_tokens(refresh_token=fresh.refresh_token)
    except pinterest.RequestError as exc:
        _refresh_lease_release(fresh.pk, owner)
        # Pinterest answers a dead refresh token with a 4xx: the grant is gone.
        raise pinterest.AuthError(f"Refreshing the token failed: {exc.message}", status=exc.status,
                                  code=exc.code, request_id=exc.request_id) from None
    except BaseException:
        _refresh_lease_release(fresh.pk, owner)
        raise


def _refresh_store(fresh: PinterestConnection, owner: str, tokens: pinterest.TokenSet) -> PinterestConnection:
    # Step 3: the new pair and the end of the lease in one UPDATE, only while the lease is still ours.
    now = timezone.now()
    fresh.set_tokens(access_token=tokens.access_token, refresh_token=tokens.refresh_token)
    changes = {
        "access_token_encrypted": fresh.access_token_encrypted,
        "refresh_token_encrypted": fresh.refresh_token_encrypted,
        "access_token_expires_at": expiry_after(tokens.expires_in),
        "last_refreshed_at": now,
        "refresh_lease_owner": "",
        "refresh_lease_until": None,
        "updated_at": now,
    }
    if tokens.refresh_token_expires_in:
        changes["refresh_token_expires_at"] = expiry_after(tokens.refresh_token_expires_in)
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
