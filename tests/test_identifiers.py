"""Identifiers are normalised the way Pinterest matches them, then SHA-256 hashed."""

import hashlib

import pytest

from integrations.pinterest import identifiers


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_it_trims_and_lowercases_emails_before_hashing():
    assert identifiers.hash_email("  Jane.Doe@Example.COM \n") == sha256("jane.doe@example.com")


def test_it_uppercases_idfas_and_lowercases_android_ids():
    idfa = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
    assert identifiers.hash_idfa(idfa) == sha256(idfa.upper())
    aaid = "CDDA802E-FB9C-47AD-9866-0794D394C912"
    assert identifiers.hash_android_aid(aaid) == sha256(aaid.lower())


def test_it_takes_64_hex_characters_as_already_hashed():
    digest = sha256("someone@example.com")
    assert identifiers.hash_email(digest.upper()) == digest
    assert identifiers.hash_idfa(digest) == digest


@pytest.mark.parametrize("value", ["not-an-email", "a@b@c", ""])
def test_it_rejects_what_is_not_an_email(value):
    with pytest.raises(identifiers.InvalidIdentifier):
        identifiers.hash_email(value)


def test_it_rejects_malformed_ad_ids():
    with pytest.raises(identifiers.InvalidIdentifier):
        identifiers.hash_idfa("1234")
