"""Clients for the partner API: one per workspace, each with its own API key.

Import the fixtures into a test module to use them:

    from tests.api_support import acme_api, globex_api  # noqa: F401
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from integrations.api_keys import api_key_create


def client_with_key(plaintext: str | None) -> APIClient:
    client = APIClient()
    if plaintext:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def key_for(workspace, name: str = "test") -> str:
    _, plaintext = api_key_create(workspace=workspace, name=name)
    return plaintext


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    # With Redis the rate counts outlive a test's transaction: every test starts from zero.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def acme_api(acme, alice) -> APIClient:
    """Alice's integration: a key for the acme workspace."""
    return client_with_key(key_for(acme, "alice's integration"))


@pytest.fixture
def globex_api(globex, charlie) -> APIClient:
    """Charlie's integration: a key for globex, which must see nothing of acme."""
    return client_with_key(key_for(globex, "charlie's integration"))


def error_of(response) -> dict:
    """The error object of a JSON error answer, checking the one shape every error has."""
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "details"}, body
    assert body["error"]["message"], body
    return body["error"]


def pinterest_audience(sandbox, ad_account, name: str, *, members: int = 100) -> str:
    """An audience that exists on Pinterest (the sandbox) before the partner picks it; returns its id."""
    import hashlib

    state = sandbox.state
    owner = next(u for u in state.users.values() if ad_account.pinterest_id in u.ad_account_ids)
    records = ",".join(hashlib.sha256(f"{name}-{i}@example.com".encode()).hexdigest() for i in range(members))
    customer_list = state.create_list(owner, ad_account.pinterest_id,
                                      {"name": f"{name} list", "list_type": "EMAIL", "records": records})
    audience = state.create_audience(owner, ad_account.pinterest_id, {
        "name": name, "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": customer_list["id"]}})
    return audience["id"]
