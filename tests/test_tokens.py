"""Tokens stay fresh, a refused token stops syncing visibly, and reconnecting resumes it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection as db_connection

from audiences import services as audience_services
from audiences.sending.pump import send_due_now
from audiences.metrics import step_metrics
from integrations.services.connections import ConnectionUnusable, connection_connect, connection_disconnect
from integrations.services.tokens import connections_refresh_expiring, with_pinterest
from integrations.models import PinterestConnection
from integrations.pinterest import client as pinterest
from integrations.pinterest.client import TokenSet
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def calls(sandbox, path: str) -> list[dict]:
    return [r for r in sandbox.state.requests_log() if r["path"].endswith(path)]


def reload(connection: PinterestConnection) -> PinterestConnection:
    return PinterestConnection.objects.get(pk=connection.pk)


def token_set(tokens: dict) -> TokenSet:
    return TokenSet(
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        expires_in=tokens.get("expires_in"),
        refresh_token_expires_in=tokens.get("refresh_token_expires_in"),
        scope=tokens.get("scope", ""),
    )


# --- Refreshing on a schedule ------------------------------------------------------------------


def test_the_hourly_refresh_renews_tokens_before_they_expire_and_keeps_the_rotated_refresh_token(
    connection, sandbox
):
    old_refresh = connection.refresh_token
    old_access = connection.access_token
    assert connections_refresh_expiring() == 0  # thirty days left: nothing to do yet

    with time_machine.travel(connection.access_token_expires_at - timedelta(days=1), tick=True):
        assert connections_refresh_expiring() == 1

        renewed = reload(connection)
        assert renewed.access_token != old_access
        assert renewed.refresh_token != old_refresh  # Pinterest rotated it, and we kept the new one
        assert renewed.access_token_expires_at > connection.access_token_expires_at + timedelta(days=28)
        assert renewed.last_refreshed_at is not None
        # The old refresh token is spent at Pinterest; the stored one still works.
        with pytest.raises(pinterest.RequestError):
            pinterest.refresh_tokens(refresh_token=old_refresh)
        assert with_pinterest(renewed, lambda client: client.user_account()).username == "acme-ads"
        assert connections_refresh_expiring() == 0


def test_a_refused_scheduled_refresh_marks_the_connection_for_reconnecting(connection, sandbox, pinterest_user):
    sandbox.state.revoke_user(pinterest_user["user"]["id"])

    with time_machine.travel(connection.access_token_expires_at - timedelta(hours=1), tick=True):
        assert connections_refresh_expiring() == 0

    renewed = reload(connection)
    assert renewed.status == PinterestConnection.Status.INVALID
    assert "Reconnect Pinterest" in renewed.last_error


def test_a_connection_no_key_opens_does_not_stop_the_others_from_refreshing(connection, globex, sandbox, settings):
    from cryptography.fernet import Fernet

    from integrations import crypto

    working_keys = crypto.configured_keys()
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # a key this deployment will lose
    other = sandbox.state.create_user(username="globex-ads", ad_accounts=1)
    connection_connect(workspace=globex, tokens=token_set(sandbox.state.issue_tokens(other["id"])))
    settings.TOKEN_ENCRYPTION_KEYS = working_keys

    with time_machine.travel(connection.access_token_expires_at - timedelta(hours=1), tick=True):
        assert connections_refresh_expiring() == 1

    assert reload(connection).last_refreshed_at is not None


# --- 401: one refresh, one retry ------------------------------------------------------------------


def test_an_expired_token_gets_one_refresh_and_one_retry(connection, sandbox):
    sandbox.state.expire(connection.access_token)
    before = len(sandbox.state.requests_log())

    account = with_pinterest(connection, lambda client: client.user_account())

    assert account.username == "acme-ads"
    made = [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in sandbox.state.requests_log()[before:]]
    assert made == [("user_account", 401), ("token", 200), ("user_account", 200)]
    assert reload(connection).status == PinterestConnection.Status.VALID


def test_after_a_refresh_the_callers_connection_uses_the_new_token(connection, sandbox):
    sandbox.state.expire(connection.access_token)
    before = len(sandbox.state.requests_log())

    for _ in range(3):  # a sender sending three chunks with one connection object
        with_pinterest(connection, lambda client: client.user_account())

    made = [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in sandbox.state.requests_log()[before:]]
    assert made == [("user_account", 401), ("token", 200)] + [("user_account", 200)] * 3


def test_a_token_still_refused_after_the_refresh_marks_the_connection_invalid_and_is_not_used_again(
    connection, sandbox
):
    sandbox.state.fail_next(2, 401)  # the call and its retry
    before = len(sandbox.state.requests_log())

    with pytest.raises(ConnectionUnusable) as refused:
        with_pinterest(connection, lambda client: client.user_account())

    made = [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in sandbox.state.requests_log()[before:]]
    assert made == [("user_account", 401), ("token", 200), ("user_account", 401)]
    stored = reload(connection)
    assert stored.status == PinterestConnection.Status.INVALID
    assert "Reconnect Pinterest" in stored.last_error and "Reconnect Pinterest" in str(refused.value)
    assert stored.last_error_at is not None

    with pytest.raises(ConnectionUnusable):
        with_pinterest(stored, lambda client: client.user_account())
    assert len(sandbox.state.requests_log()) == before + 3  # Pinterest was not called again


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_spend_the_rotated_refresh_token_once(connection, sandbox):
    sandbox.state.expire(connection.access_token)
    copies = [reload(connection) for _ in range(3)]  # three workers that read the same old token
    start = threading.Barrier(len(copies))
    results: list[object] = [None] * len(copies)

    def worker(i: int) -> None:
        try:
            start.wait()
            results[i] = with_pinterest(copies[i], lambda client: client.user_account())
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = exc
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(copies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert all(isinstance(result, pinterest.Account) for result in results), results
    assert len([r for r in calls(sandbox, "/oauth/token") if r["status"] == 200]) == 1
    stored = reload(connection)
    assert stored.status == PinterestConnection.Status.VALID
    assert with_pinterest(stored, lambda client: client.user_account()).username == "acme-ads"


# --- A revoked token mid-sync, then reconnecting -----------------------------------------------------


def test_a_token_revoked_mid_sync_holds_users_pending_and_reconnecting_sends_them(
    client, alice, add_canvas, sandbox, pinterest_user, django_capture_on_commit_callbacks
):
    step = add_canvas.steps.get()
    audience_services.users_enter(canvas=add_canvas, users=make_users(120))
    send_due_now()
    assert step_metrics(step).synced == 120

    sandbox.state.revoke_user(pinterest_user["user"]["id"])  # the user removed our app's access
    audience_services.users_enter(canvas=add_canvas, users=make_users(30, start=120))
    send_due_now()

    connection = add_canvas.workspace.pinterest_connection
    connection.refresh_from_db()
    assert connection.status == PinterestConnection.Status.INVALID
    assert "Reconnect Pinterest" in connection.last_error
    numbers = step_metrics(step)
    assert (numbers.entered, numbers.synced, numbers.pending, numbers.errored) == (150, 120, 30, 0)
    client.force_login(alice)
    page = client.get("/pinterest/acme/").content.decode()
    assert "Needs reconnecting" in page and connection.last_error in page

    before = len(sandbox.state.requests_log())
    send_due_now()
    assert len(sandbox.state.requests_log()) == before  # no more calls with the dead token
    assert step_metrics(step).pending == 30

    fresh = sandbox.state.issue_tokens(pinterest_user["user"]["id"])
    with django_capture_on_commit_callbacks(execute=True):
        connection_connect(workspace=add_canvas.workspace, tokens=token_set(fresh))
    send_due_now()

    assert reload(connection).status == PinterestConnection.Status.VALID
    numbers = step_metrics(step)
    assert (numbers.entered, numbers.synced, numbers.pending, numbers.errored) == (150, 150, 0, 0)
    list_id = step.audience.lists.get().pinterest_customer_list_id
    assert len(sandbox.state.customer_list_records(list_id)) == 150


def test_disconnecting_holds_users_pending(add_canvas, sandbox, connection):
    step = add_canvas.steps.get()
    connection_disconnect(connection=reload(connection))
    before = len(sandbox.state.requests_log())

    audience_services.users_enter(canvas=add_canvas, users=make_users(10))
    send_due_now()

    assert step_metrics(step).pending == 10
    assert len(sandbox.state.requests_log()) == before

