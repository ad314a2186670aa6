"""The workspace's Pinterest connection and its existing audiences, as a partner sees them."""

import pytest

from integrations.services.connections import connection_mark_invalid
from tests.api_support import _fresh_throttle_counts, acme_api, error_of, pinterest_audience  # noqa: F401

pytestmark = pytest.mark.django_db


def test_it_shows_the_connection_and_ad_accounts_but_never_tokens(acme_api, connection, pinterest_user):
    response = acme_api.get("/api/v1/connection/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "valid"
    assert body["pinterest_account"] == {"id": connection.pinterest_user_id,
                                         "username": connection.pinterest_username}
    assert sorted(a["id"] for a in body["ad_accounts"]) == sorted(
        connection.ad_accounts.values_list("pinterest_id", flat=True))
    assert all(a["enabled"] for a in body["ad_accounts"])
    text = response.content.decode()
    for secret in (pinterest_user["tokens"]["access_token"], pinterest_user["tokens"]["refresh_token"],
                   connection.access_token_encrypted, connection.refresh_token_encrypted):
        assert secret not in text
    assert "token" not in text.lower()


def test_an_invalid_connection_says_so(acme_api, connection):
    connection_mark_invalid(connection=connection, reason="Pinterest refused the token. Reconnect Pinterest.")
    body = acme_api.get("/api/v1/connection/").json()
    assert body["status"] == "invalid"
    assert "Reconnect" in body["last_error"]


def test_without_a_connection_it_says_not_connected(acme_api):
    assert acme_api.get("/api/v1/connection/").json()["status"] == "not_connected"


def test_it_searches_existing_audiences_a_page_at_a_time(acme_api, sandbox, ad_account):
    for name in ("Buyers 0", "Buyers 1", "Buyers 2", "Newsletter"):
        pinterest_audience(sandbox, ad_account, name)
    url = f"/api/v1/ad-accounts/{ad_account.pinterest_id}/audiences/"

    found = acme_api.get(url, {"search": "buyers"}).json()
    assert sorted(a["name"] for a in found["results"]) == ["Buyers 0", "Buyers 1", "Buyers 2"]

    first = acme_api.get(url, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    assert first["next_cursor"]
    rest = acme_api.get(url, {"page_size": 2, "cursor": first["next_cursor"]}).json()
    names = [a["name"] for a in first["results"] + rest["results"]]
    assert sorted(names) == ["Buyers 0", "Buyers 1", "Buyers 2", "Newsletter"]


def test_an_unknown_or_disabled_ad_account_is_a_404(acme_api, connection):
    response = acme_api.get("/api/v1/ad-accounts/000000/audiences/")
    assert response.status_code == 404
    assert "GET /api/v1/connection/" in error_of(response)["message"]
    disabled = connection.ad_accounts.order_by("pinterest_id").last()
    disabled.enabled = False
    disabled.save()
    response = acme_api.get(f"/api/v1/ad-accounts/{disabled.pinterest_id}/audiences/")
    assert response.status_code == 404
    assert "not enabled" in error_of(response)["message"]


def test_an_unusable_connection_is_a_409(acme_api, connection, ad_account):
    connection_mark_invalid(connection=connection, reason="Pinterest refused the token.")
    response = acme_api.get(f"/api/v1/ad-accounts/{ad_account.pinterest_id}/audiences/")
    assert response.status_code == 409
    assert error_of(response)["code"] == "connection_unusable"
