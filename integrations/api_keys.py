"""Workspace API keys: creating, revoking and checking them.

A key looks like ``pas_<prefix>_<secret>``. Only the SHA-256 of the whole key
is stored, with the short public prefix to tell keys apart in lists; the
plaintext is shown once, when the key is created, and cannot be recovered.
A SHA-256 (not a slow password hash) is enough because the secret is 256 bits
of randomness: there is nothing to brute-force, and every API request can be
checked with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integrations.models import ApiKey, Workspace
from integrations.signals import audited
from project import db

KEY_TAG = "pas"
PREFIX_LENGTH = 8
# last_used_at is written at most this often per key, so reads stay reads.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidApiKey(Exception):
    """The key is malformed, unknown or revoked."""


def _hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _random_prefix() -> str:
    # Letters and digits only, so the prefix reads well and never contains the separator.
    alphabet = "abcdefghijkmnopqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(PREFIX_LENGTH))


def api_key_create(*, workspace: Workspace, name: str = "", created_by=None,
                   scope: str = ApiKey.Scope.FULL) -> tuple[ApiKey, str]:
    """A new key for the workspace: returns the row and the plaintext, which is never stored.

    `scope` (ApiKey.Scope) says which operations the key may call, for good:
    a key's scope is never widened, a wider key is a new key.
    """
    if scope not in ApiKey.Scope.values:
        raise ValueError(f"An API key's scope is one of {', '.join(ApiKey.Scope.values)}.")
    for _ in range(5):
        prefix = f"{KEY_TAG}_{_random_prefix()}"
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    else:  # pragma: no cover - 33^8 prefixes
        raise RuntimeError("Could not find a free API key prefix.")
    plaintext = f"{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            workspace=workspace,
            name=(name or "").strip()[:100],
            prefix=prefix,
            key_hash=_hash(plaintext),
            created_by=created_by,
            scope=scope,
        )
        audited.send(sender=ApiKey, workspace=workspace, action="api_key.create", target=str(api_key),
                     details={"scope": scope})
    return api_key, plaintext


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Stop accepting the key at once. Revoking twice keeps the first revocation time."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=api_key.revoked_at):
            audited.send(sender=ApiKey, workspace=api_key.workspace_id, action="api_key.revoke", target=str(api_key))
    return api_key


def api_key_authenticate(plaintext: str) -> ApiKey:
    """The active key for this plaintext, with its workspace; InvalidApiKey otherwise.

    The message says what is wrong without echoing the key.
    """
    plaintext = (plaintext or "").strip()
    if not plaintext.startswith(f"{KEY_TAG}_") or len(plaintext) > 200:
        raise InvalidApiKey("The API key is malformed: keys start with “pas_” and are shown once when created.")
    # Raw statements (project.db): every API call asks, and compiling the ORM query took longer than the lookup.
    api_key = db.instance_joined(ApiKey, "t.key_hash = %s", [_hash(plaintext)], related=("workspace",))
    if api_key is None:
        raise InvalidApiKey("The API key is not valid.")
    if api_key.revoked_at is not None:
        raise InvalidApiKey(f"The API key {api_key.prefix}… was revoked; ask the workspace admin for a new one.")
    now = timezone.now()
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
