"""identifiers.py refuses what cannot be anyone's identifier, so it is never hashed and sent."""

import hashlib

import pytest

from integrations.pinterest import identifiers

INVISIBLE = ["\u0000", "\u0009", "\u001f", "\u007f", "\u0085", "\u009f", "\u00ad", "\u061c", "\u200b", "\u200c",
             "\u200d", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2060", "\u2066",
             "\u2067", "\u2068", "\u2069", "\ufeff", "\ud800", "\udfff", "\U000e0041"]


@pytest.mark.parametrize("character", INVISIBLE)
@pytest.mark.parametrize("where", ["jane{}@example.com", "jane@exam{}ple.com", "{}jane@example.com",
                                   "jane@example.com{}"])
def test_an_email_with_an_invisible_character_is_refused(character, where):
    email = where.format(character)
    if email.strip() != email and character.isspace():
        # Whitespace at either end is trimmed, as Pinterest asks: then it is not in the address.
        assert identifiers.hash_email(email) == identifiers.hash_email(email.strip())
        return
    with pytest.raises(identifiers.InvalidIdentifier, match="not an email address"):
        identifiers.hash_email(email)


@pytest.mark.parametrize("email", ["jane@localhost", "jane@example", "jane@.example.com", "jane@example.com.",
                                   "jane@example..com", "@example.com", "jane@", "ja ne@example.com",
                                   "jane@exa mple.com", "jane@ex\u00a0ample.com", "jane@@example.com",
                                   "a" * 243 + "@example.com"])
def test_an_email_without_a_dotted_domain_or_with_spaces_or_too_long_is_refused(email):
    with pytest.raises(identifiers.InvalidIdentifier):
        identifiers.normalise_email(email)


def test_ordinary_addresses_still_hash_as_before():
    assert identifiers.hash_email("  Jane.Doe@Example.COM \n") == hashlib.sha256(b"jane.doe@example.com").hexdigest()
    assert identifiers.hash_email("a" * 242 + "@example.com")  # 254 characters: the longest there is
    assert identifiers.normalise_email("Ren\u00e9@Ex\u00e4mple.de") == "ren\u00e9@ex\u00e4mple.de"


@pytest.mark.parametrize("check", [identifiers.hash_idfa, identifiers.hash_android_aid])
@pytest.mark.parametrize("value", ["00000000-0000-0000-0000-000000000000", "1234", "6d92078a82464ba4ae5b76104861e7dc",
                                   "6d92078a-8246-4ba4-ae5b-76104861e7dc\u200b", "6d92078a-8246-4ba4-ae5b-76104861e7d\u0441",
                                   "\u0666d92078a-8246-4ba4-ae5b-76104861e7dc", "a" * 65, "g" * 64])
def test_an_ad_id_is_a_uuid_or_a_pre_hash(check, value):
    with pytest.raises(identifiers.InvalidIdentifier):
        check(value)


def test_a_pre_hash_is_taken_as_it_is_and_normalising_twice_changes_nothing():
    digest = hashlib.sha256(b"x").hexdigest()
    assert identifiers.hash_idfa(digest.upper()) == digest
    for normalise, value in [(identifiers.normalise_email, " A@B.co "), (identifiers.normalise_idfa,
                             "6d92078a-8246-4ba4-ae5b-76104861e7dc"),
                             (identifiers.normalise_android_aid, "CDDA802E-FB9C-47AD-9866-0794D394C912")]:
        once = normalise(value)
        assert normalise(once) == once
