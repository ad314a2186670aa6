"""OAuth tokens are encrypted at rest, a wrong key is an error, and keys can be rotated."""

from __future__ import annotations

import os
import subprocess

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection as db_connection

from integrations import crypto
from integrations.services.connections import connection_connect
from integrations.services.tokens import connection_refresh, with_pinterest
from integrations.models import PinterestConnection
from integrations.pinterest.client import TokenSet

pytestmark = pytest.mark.django_db


def new_key() -> str:
    return Fernet.generate_key().decode()


def token_set(tokens: dict) -> TokenSet:
    return TokenSet(
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        expires_in=tokens.get("expires_in"),
        refresh_token_expires_in=tokens.get("refresh_token_expires_in"),
        scope=tokens.get("scope", ""),
    )


def test_it_stores_tokens_encrypted_and_reads_them_back(connection, pinterest_user):
    tokens = pinterest_user["tokens"]
    connection.refresh_from_db()
    assert tokens["access_token"] not in connection.access_token_encrypted
    assert tokens["refresh_token"] not in connection.refresh_token_encrypted
    assert connection.access_token == tokens["access_token"]
    assert connection.refresh_token == tokens["refresh_token"]


def test_a_wrong_key_raises_and_never_hands_back_the_ciphertext(connection, settings):
    stored = PinterestConnection.objects.get(pk=connection.pk)
    settings.TOKEN_ENCRYPTION_KEYS = [new_key()]

    with pytest.raises(crypto.TokenDecryptionError) as refused:
        stored.access_token  # noqa: B018
    assert stored.access_token_encrypted not in str(refused.value)
    with pytest.raises(crypto.TokenDecryptionError):
        stored.refresh_token  # noqa: B018


def test_a_wrong_key_never_sends_the_ciphertext_to_pinterest(connection, sandbox, settings):
    settings.TOKEN_ENCRYPTION_KEYS = [new_key()]
    before = len(sandbox.state.requests_log())

    with pytest.raises(crypto.TokenDecryptionError):
        with_pinterest(PinterestConnection.objects.get(pk=connection.pk), lambda client: client.user_account())

    assert len(sandbox.state.requests_log()) == before


def test_garbage_in_the_token_column_raises():
    with pytest.raises(crypto.TokenDecryptionError):
        crypto.decrypt("not-a-fernet-token")


def test_rotate_token_key_re_encrypts_every_token_with_the_first_key(
    connection, pinterest_user, globex, sandbox, settings
):
    other_user = sandbox.state.create_user(username="globex-ads", ad_accounts=1)
    other_tokens = sandbox.state.issue_tokens(other_user["id"])
    connection_connect(workspace=globex, tokens=token_set(other_tokens))
    before = dict(PinterestConnection.objects.values_list("pk", "access_token_encrypted"))
    newest = new_key()
    settings.TOKEN_ENCRYPTION_KEYS = [newest, *crypto.configured_keys()]

    call_command("rotate_token_key", stdout=open("/dev/null", "w"))

    settings.TOKEN_ENCRYPTION_KEYS = [newest]  # the old key is gone: only the new one opens them
    acme_connection = PinterestConnection.objects.get(pk=connection.pk)
    globex_connection = PinterestConnection.objects.get(workspace=globex)
    assert acme_connection.access_token == pinterest_user["tokens"]["access_token"]
    assert acme_connection.refresh_token == pinterest_user["tokens"]["refresh_token"]
    assert globex_connection.access_token == other_tokens["access_token"]
    assert globex_connection.refresh_token == other_tokens["refresh_token"]
    after = dict(PinterestConnection.objects.values_list("pk", "access_token_encrypted"))
    assert all(after[pk] != before[pk] for pk in before)
    # And the service still talks to Pinterest with the rotated token.
    assert with_pinterest(acme_connection, lambda client: client.user_account()).username == "acme-ads"


def test_rotate_token_key_names_the_connections_no_key_opens_and_rotates_the_rest(
    connection, pinterest_user, globex, sandbox, settings
):
    settings.TOKEN_ENCRYPTION_KEYS = [lost_key := new_key()]
    other_user = sandbox.state.create_user(username="globex-ads", ad_accounts=1)
    connection_connect(workspace=globex, tokens=token_set(sandbox.state.issue_tokens(other_user["id"])))
    newest = new_key()
    settings.TOKEN_ENCRYPTION_KEYS = [newest, crypto.derived_default_key()]  # lost_key is not configured

    with pytest.raises(CommandError, match=r"globex \(connection \d+\)"):
        call_command("rotate_token_key", stdout=open("/dev/null", "w"))

    settings.TOKEN_ENCRYPTION_KEYS = [newest]
    assert PinterestConnection.objects.get(pk=connection.pk).access_token == pinterest_user["tokens"]["access_token"]
    settings.TOKEN_ENCRYPTION_KEYS = [lost_key]
    assert PinterestConnection.objects.get(workspace=globex).access_token  # left as it was


@pytest.mark.django_db(transaction=True)
def test_no_token_is_in_the_database_in_plain_text(acme, sandbox, pinterest_user):
    connection = connection_connect(workspace=acme, tokens=token_set(pinterest_user["tokens"]))
    refreshed = connection_refresh(connection=connection)  # the rotated pair is stored too
    secrets = [
        pinterest_user["tokens"]["access_token"],
        pinterest_user["tokens"]["refresh_token"],
        refreshed.access_token,
        refreshed.refresh_token,
    ]

    raw = database_bytes()

    assert refreshed.access_token_encrypted.encode() in raw  # we are reading the right database
    for secret in secrets:
        assert secret.encode() not in raw


def database_bytes() -> bytes:
    """Everything the database holds: the SQLite file and its WAL, or a PostgreSQL dump."""
    db = django_settings.DATABASES["default"]
    if db_connection.vendor == "sqlite":
        name = db["NAME"]
        if not os.path.isfile(name):
            pytest.skip(f"the SQLite database {name} is not a file")
        # Read by another process: closing a file descriptor of the database in
        # this one would drop the POSIX locks SQLite holds on it here.
        paths = [path for path in (name, f"{name}-wal") if os.path.isfile(path)]
        return subprocess.run(["cat", *paths], capture_output=True, check=True, timeout=60).stdout
    if db_connection.vendor == "postgresql":
        env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
        command = ["pg_dump", "--data-only", "-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432),
                   "-U", db.get("USER") or "postgres", db["NAME"]]
        try:
            return subprocess.run(command, env=env, capture_output=True, check=True, timeout=120).stdout
        except FileNotFoundError:
            pytest.skip("pg_dump is not installed")
    pytest.skip(f"no raw dump for {db_connection.vendor}")
