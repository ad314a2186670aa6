"""Refreshing a token holds no database transaction while Pinterest answers, and one connection refreshes once.

A refresh takes a lease on the connection's row with a conditional UPDATE,
calls Pinterest outside any transaction, then stores the new pair with one
UPDATE. Whoever finds the lease taken waits for it and uses the new token.
The sandbox's token endpoint is where the tests look: what the service's
database connection was doing at the moment Pinterest was asked.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from integrations.services.connections import connection_connect
from integrations.services.tokens import connection_refresh, with_pinterest
from integrations.models import PinterestConnection
from integrations.pinterest import client as pinterest


def reload(connection: PinterestConnection) -> PinterestConnection:
    return PinterestConnection.objects.get(pk=connection.pk)


def token_calls(sandbox) -> list[dict]:
    return [r for r in sandbox.state.requests_log() if r["path"].endswith("/oauth/token")]


@pytest.fixture
def at_token_request(sandbox):
    """Runs the callbacks appended to it inside the sandbox, as the token request arrives."""
    callbacks: list = []

    def observed(received):
        if received.path.endswith("/oauth/token"):
            for callback in callbacks:
                callback()

    sandbox.state.observers.append(observed)
    yield callbacks
    sandbox.state.observers.remove(observed)


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_pinterest_answers_the_refresh(connection, sandbox, at_token_request):
    service_connection = db_connection  # this thread's: the one connection_refresh uses
    seen: list[tuple[bool, str, object]] = []

    def look():
        # The service's connection is not inside atomic(), and the row is free for
        # another writer (on SQLite an open write transaction would hold the lock).
        row = PinterestConnection.objects.filter(pk=connection.pk)
        row.update(last_success_at=timezone.now())
        lease = row.values_list("refresh_lease_owner", "refresh_lease_until").get()
        seen.append((service_connection.in_atomic_block, *lease))
        connections.close_all()

    at_token_request.append(lambda: _in_thread(look))

    refreshed = connection_refresh(connection=connection)

    assert len(seen) == 1
    in_atomic, owner, until = seen[0]
    assert in_atomic is False
    assert owner and until > timezone.now()  # the lease was held while Pinterest answered ...
    stored = reload(connection)
    assert (stored.refresh_lease_owner, stored.refresh_lease_until) == ("", None)  # ... and is given back
    assert stored.access_token == refreshed.access_token != connection.access_token


@pytest.mark.django_db(transaction=True)
def test_a_401_refresh_holds_no_transaction_either(connection, sandbox, at_token_request):
    service_connection = db_connection
    seen: list[bool] = []
    at_token_request.append(lambda: seen.append(service_connection.in_atomic_block))
    sandbox.state.expire(connection.access_token)

    assert with_pinterest(connection, lambda client: client.user_account()).username == "acme-ads"
    assert seen == [False]


@pytest.mark.django_db(transaction=True)
def test_a_caller_that_finds_the_lease_taken_waits_and_uses_the_new_token(connection, sandbox):
    old = reload(connection)
    PinterestConnection.objects.filter(pk=connection.pk).update(
        refresh_lease_owner="another-process", refresh_lease_until=timezone.now() + timedelta(seconds=30)
    )

    found_taken = threading.Event()

    def watch_the_lease(execute, sql, params, many, context):
        # The caller's conditional UPDATE that takes the lease, finding it held: it now waits.
        result = execute(sql, params, many, context)
        if sql.startswith("UPDATE") and "refresh_lease_owner" in sql and context["cursor"].rowcount == 0:
            found_taken.set()
        return result

    def the_other_process_finishes():
        assert found_taken.wait(10), "the caller never tried to take the lease"
        fresh = sandbox.state.refresh(refresh_token=old.refresh_token)
        row = reload(connection)
        row.set_tokens(access_token=fresh["access_token"], refresh_token=fresh["refresh_token"])
        PinterestConnection.objects.filter(pk=connection.pk).update(
            access_token_encrypted=row.access_token_encrypted, refresh_token_encrypted=row.refresh_token_encrypted,
            refresh_lease_owner="", refresh_lease_until=None,
        )
        connections.close_all()

    other = threading.Thread(target=the_other_process_finishes)
    started = time.monotonic()
    other.start()
    with db_connection.execute_wrapper(watch_the_lease):
        result = connection_refresh(connection=old, seen_access_token_ciphertext=old.access_token_encrypted)
    other.join(10)

    assert found_taken.is_set()  # it waited for the lease, and did not refresh on its own
    assert time.monotonic() - started < 5
    assert result.access_token != old.access_token
    assert result.access_token == reload(connection).access_token
    assert token_calls(sandbox) == []  # the service did not spend the rotated refresh token again
    assert with_pinterest(result, lambda client: client.user_account()).username == "acme-ads"


@pytest.mark.django_db(transaction=True)
def test_a_lease_whose_holder_died_runs_out_and_the_refresh_goes_ahead(connection, sandbox):
    PinterestConnection.objects.filter(pk=connection.pk).update(
        refresh_lease_owner="a-dead-worker", refresh_lease_until=timezone.now() - timedelta(seconds=1)
    )

    refreshed = connection_refresh(connection=reload(connection))

    assert refreshed.access_token != connection.access_token
    assert [r["status"] for r in token_calls(sandbox)] == [200]


@pytest.mark.django_db(transaction=True)
def test_a_lease_that_is_not_given_back_in_time_is_a_transient_error(connection, sandbox):
    PinterestConnection.objects.filter(pk=connection.pk).update(
        refresh_lease_owner="slow", refresh_lease_until=timezone.now() + timedelta(minutes=5)
    )

    with pytest.raises(pinterest.TransientError, match="Another process is refreshing"):
        connection_refresh(connection=reload(connection), wait_seconds=0.3)

    assert token_calls(sandbox) == []
    assert reload(connection).status == PinterestConnection.Status.VALID


@pytest.mark.django_db(transaction=True)
def test_a_refused_refresh_gives_the_lease_back(connection, sandbox, pinterest_user):
    sandbox.state.revoke_user(pinterest_user["user"]["id"])

    with pytest.raises(pinterest.AuthError):
        connection_refresh(connection=reload(connection))

    assert (reload(connection).refresh_lease_owner, reload(connection).refresh_lease_until) == ("", None)


@pytest.mark.django_db(transaction=True)
def test_reconnecting_during_a_refresh_keeps_the_new_grant(connection, sandbox, pinterest_user, at_token_request):
    fresh = sandbox.state.issue_tokens(pinterest_user["user"]["id"])

    def reconnect():
        connection_connect(workspace=connection.workspace, tokens=pinterest.TokenSet(
            fresh["access_token"], fresh["refresh_token"], fresh.get("expires_in"), None, ""))
        connections.close_all()

    at_token_request.append(lambda: _in_thread(reconnect))

    result = connection_refresh(connection=reload(connection))

    assert result.access_token == fresh["access_token"] == reload(connection).access_token
    assert reload(connection).refresh_lease_owner == ""


def _in_thread(function) -> None:
    """Run `function` in another thread (its own database connection) and wait for it."""
    errors: list[BaseException] = []

    def run():
        try:
            function()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
        finally:
            connections.close_all()  # a thread's connection would outlive the test database

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    if errors:
        raise errors[0]
