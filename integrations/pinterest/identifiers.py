"""Normalising and hashing of the identifiers Pinterest matches on.

Rules (API-NOTES 3.6): emails are trimmed and lowercased, IDFAs uppercased,
Android advertising ids lowercased, then SHA-256 as lowercase hex. A value
that already is 64 hex characters is taken as pre-hashed and only
lowercased. Raw values never leave this module: callers keep the hashes.
"""

import hashlib
import re

EMAIL = "EMAIL"
IDFA = "IDFA"
MAID = "MAID"
LIST_TYPES = (EMAIL, IDFA, MAID)

_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_AD_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class InvalidIdentifier(ValueError):
    pass


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hash_email(value: str) -> str:
    value = value.strip()
    if len(value) == 64 and _SHA256_HEX.match(value):
        return value.lower()
    value = value.lower()
    if not _EMAIL.match(value):
        raise InvalidIdentifier("not an email address")
    return _sha256(value)


def hash_idfa(value: str) -> str:
    value = value.strip()
    if len(value) == 64 and _SHA256_HEX.match(value):
        return value.lower()
    if not _AD_ID.match(value):
        raise InvalidIdentifier("not an IDFA (8-4-4-4-12 hex)")
    return _sha256(value.upper())


def hash_android_aid(value: str) -> str:
    value = value.strip()
    if len(value) == 64 and _SHA256_HEX.match(value):
        return value.lower()
    if not _AD_ID.match(value):
        raise InvalidIdentifier("not an Android advertising id (8-4-4-4-12 hex)")
    return _sha256(value.lower())
