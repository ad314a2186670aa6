"""Reconnecting as another Pinterest user: the first user's ad accounts become unavailable, kept for history."""

from __future__ import annotations

from django.urls import reverse

from audiences import services
from audiences.models import Canvas
from integrations.models import AdAccount
from integrations.pinterest.client import TokenSet
from integrations.services.connections import connection_connect, connection_disconnect


def connect_as(acme, sandbox, username: str, ad_accounts: int = 1):
    user = sandbox.state.create_user(username=username, ad_accounts=ad_accounts)
    tokens = sandbox.state.issue_tokens(user["id"])
    return connection_connect(
        workspace=acme, keep_ad_account_choices=True,
        tokens=TokenSet(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                        expires_in=tokens.get("expires_in"), scope=tokens.get("scope", ""),
                        refresh_token_expires_in=tokens.get("refresh_token_expires_in")),
    )


def test_it_marks_the_old_users_ad_accounts_unavailable(acme, sandbox, connection, ad_account):
    old_ids = set(connection.ad_accounts.values_list("pinterest_id", flat=True))
    connection_disconnect(connection=connection)

    fresh = connect_as(acme, sandbox, "other-ads")

    rows = {row.pinterest_id: row for row in AdAccount.objects.filter(connection=fresh)}
    assert old_ids <= set(rows)  # kept for history
    assert all(not rows[i].available and not rows[i].enabled for i in old_ids)
    assert [row.available for i, row in rows.items() if i not in old_ids] == [True]


def test_it_refuses_to_launch_a_step_on_an_unavailable_ad_account(client, alice, acme, sandbox, connection, ad_account):
    canvas = services.canvas_create(workspace=acme, name="Spring sale")
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Spring buyers")
    services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience)
    connection_disconnect(connection=connection)
    connect_as(acme, sandbox, "other-ads")
    client.force_login(alice)

    response = client.post(reverse("admin:audiences_canvas_launch", args=[canvas.pk]), follow=True)

    shown = " ".join(str(m) for m in response.context["messages"])
    assert "which the connected Pinterest user cannot see" in shown
    assert Canvas.objects.get(pk=canvas.pk).status == Canvas.Status.DRAFT
    page = response.content.decode()
    assert f"Ad account {ad_account} is not available: other-ads cannot see it." in page  # the canvas's banner


def test_the_pages_say_which_pinterest_account_is_connected(client, alice, acme, sandbox, connection, ad_account):
    connection_disconnect(connection=connection)
    connect_as(acme, sandbox, "other-ads")
    client.force_login(alice)

    page = client.get(reverse("integrations:partner", args=["acme"])).content.decode()

    assert 'id="connected-as">other-ads<' in page
    assert "No longer available" in page and str(ad_account) in page
    assert "may use 0 ad accounts" not in page


def test_the_consent_page_names_the_user_about_to_give_access(sandbox):
    import requests

    page = requests.get(sandbox.oauth_authorize_url, params={
        "client_id": "test-client-id", "redirect_uri": "http://127.0.0.1/cb", "response_type": "code",
        "scope": "ads:read", "state": "x"}, timeout=5).text

    assert "You are giving access as the Pinterest user" in page
    assert 'id="granting-username"' in page
    root = requests.get(sandbox.url.rsplit("/v5", 1)[0] + "/", timeout=5)
    assert root.status_code == 200 and "Local Pinterest sandbox" in root.text


def test_users_of_an_unavailable_ad_account_wait_instead_of_erroring(acme, sandbox, add_canvas):
    from audiences.metrics import step_metrics
    from audiences.models import SyncRecord
    from audiences.sending.pump import send_due_now
    from tests.conftest import make_users

    services.users_enter(canvas=add_canvas, users=make_users(30))
    connect_as(acme, sandbox, "other-ads")  # the step's ad account is not this user's
    requests_before = len(sandbox.state.requests_log())

    send_due_now()

    numbers = step_metrics(add_canvas.steps.get())
    assert (numbers.pending, numbers.errored, numbers.synced) == (30, 0, 0)
    assert all("not visible to the connected Pinterest user" in r.last_error for r in SyncRecord.objects.all())
    assert len(sandbox.state.requests_log()) == requests_before  # nothing was sent for it
