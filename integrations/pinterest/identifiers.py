"""Normalising and hashing of the identifiers Pinterest matches on.

Rules (API-NOTES 3.6): emails are trimmed and lowercased, IDFAs uppercased,
Android advertising ids lowercased, then SHA-256 as lowercase hex. A value
that already is 64 hex characters is taken as pre-hashed and only
lowercased. Raw values never leave this module: callers keep the hashes.

Values that cannot be anyone's are refused here (InvalidIdentifier), so they
are never hashed and sent:

- an email with a control character, a zero-width character (U+200B..U+200D,
  U+2060, U+FEFF), a direction mark or override (U+200E, U+200F, U+061C,
  U+202A..U+202E, U+2066..U+2069), another invisible format character
  (U+00AD, U+2061..U+2064, tags), a lone surrogate, whitespace inside, no
  dot in its domain, an empty part, or more than 254 characters (the
  longest address mail can carry, RFC 5321);
- an ad id that is not a UUID (8-4-4-4-12 hex) or a 64-hex pre-hash, or is
  the all-zero UUID a device sends when ad tracking is limited.
"""

import hashlib
import re

EMAIL = "EMAIL"
IDFA = "IDFA"
MAID = "MAID"
LIST_TYPES = (EMAIL, IDFA, MAID)

EMAIL_MAX_LENGTH = 254

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_SHA256 = hashlib.sha256
# local@domain.tld: no whitespace or @ anywhere, a dot in the domain, no empty label.
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_AD_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ZERO_AD_ID = "00000000-0000-0000-0000-000000000000"
# Characters no address holds but that survive trimming and look like nothing:
# C0 and C1 controls, zero-width characters, direction marks and overrides,
# the other invisible format characters (soft hyphen, invisible operators,
# tags) and lone surrogates.
_INVISIBLE_CHARACTERS = (
    "\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
    "\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f"
)
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARACTERS}]")
# _EMAIL without any invisible character, in one pass: what nearly every address is. What it refuses
# goes through the checks one by one, which name the problem.
_PLAIN_EMAIL = re.compile(
    f"[^@\\s{_INVISIBLE_CHARACTERS}]+@[^@\\s.{_INVISIBLE_CHARACTERS}]+(?:\\.[^@\\s.{_INVISIBLE_CHARACTERS}]+)+"
)


class InvalidIdentifier(ValueError):
    pass


# Text no id of ours holds: C0 and C1 controls (a NUL ends a PostgreSQL string)
# and lone surrogates (not encodable as UTF-8, so not storable or sendable).
_NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def is_plain_text(value: str) -> bool:
    """No control characters and no lone surrogates: text that can be stored, logged and sent."""
    return _NOT_TEXT.search(value) is None


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _prehashed(value: str) -> bool:
    return len(value) == 64 and _SHA256_HEX.fullmatch(value) is not None


def normalise_email(value: str) -> str:
    """The email as Pinterest matches it (trimmed, lowercased), or a pre-hash lowercased.

    Raises InvalidIdentifier for what cannot be anyone's address.
    """
    value = value.strip()
    if len(value) <= EMAIL_MAX_LENGTH:
        lowered = value.lower()
        if _PLAIN_EMAIL.fullmatch(lowered):  # also true of a pre-hash: 64 hex characters hold no @
            return lowered
    if _prehashed(value):
        return value.lower()
    if _INVISIBLE.search(value):
        raise InvalidIdentifier("not an email address: it holds control, zero-width or direction characters")
    if len(value) > EMAIL_MAX_LENGTH:
        raise InvalidIdentifier(f"not an email address: longer than {EMAIL_MAX_LENGTH} characters")
    value = value.lower()
    if not _EMAIL.fullmatch(value):
        raise InvalidIdentifier("not an email address")
    return value


def _normalise_ad_id(value: str, kind: str) -> str:
    value = value.strip()
    if _prehashed(value):
        return value.lower()
    if not _AD_ID.fullmatch(value):
        raise InvalidIdentifier(f"not an {kind} (8-4-4-4-12 hex, or its SHA-256)")
    if value == _ZERO_AD_ID:
        raise InvalidIdentifier(f"not an {kind}: the all-zero id means ad tracking is limited on the device")
    return value


def normalise_idfa(value: str) -> str:
    """An IDFA uppercased (Pinterest matches IDFAs in uppercase), or a pre-hash lowercased."""
    value = _normalise_ad_id(value, "IDFA")
    return value if _prehashed(value) else value.upper()


def normalise_android_aid(value: str) -> str:
    """An Android advertising id lowercased, or a pre-hash lowercased."""
    return _normalise_ad_id(value, "Android advertising id").lower()


def hash_normalised(value: str) -> str:
    """SHA-256 of a value normalise_* returned (a pre-hash is returned as it is)."""
    # _prehashed and _sha256 inlined: this runs once per identifier of every user entered.
    if len(value) == 64 and _SHA256_HEX.fullmatch(value) is not None:
        return value
    return _SHA256(value.encode("utf-8")).hexdigest()


def hash_email(value: str) -> str:
    return hash_normalised(normalise_email(value))


def hash_idfa(value: str) -> str:
    return hash_normalised(normalise_idfa(value))


def hash_android_aid(value: str) -> str:
    return hash_normalised(normalise_android_aid(value))
