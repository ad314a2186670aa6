"""Encryption of OAuth tokens at rest.

Fernet (AES-128-CBC + HMAC) through a MultiFernet key list: the first key
encrypts, every key decrypts, so keys can be rotated without downtime
(`python manage.py rotate_token_key`). A token that no configured key can
open raises TokenDecryptionError; the ciphertext is never handed back as if
it were the token.
"""

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class TokenDecryptionError(Exception):
    """The stored token cannot be opened with any configured key."""


def derived_default_key() -> str:
    # A stable key derived from SECRET_KEY, so a fresh checkout works without
    # configuration. Production sets TOKEN_ENCRYPTION_KEYS.
    digest = hashlib.sha256(("token-encryption:" + settings.SECRET_KEY).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def configured_keys() -> list[str]:
    return list(settings.TOKEN_ENCRYPTION_KEYS) or [derived_default_key()]


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(configured_keys()))


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenDecryptionError(
            "A stored Pinterest token cannot be decrypted with the configured "
            "TOKEN_ENCRYPTION_KEYS; add the old key to the list or reconnect."
        ) from None


def rotate(ciphertext: str) -> str:
    """Re-encrypt with the first (newest) key."""
    if not ciphertext:
        return ""
    try:
        return fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenDecryptionError("A stored token cannot be decrypted with any configured key.") from None
