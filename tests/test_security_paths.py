"""Nothing a caller sends can change which Pinterest path the service calls.

Pinterest's ids are digit strings (openapi-v5.json: `pattern: ^\\d+$`,
`maxLength: 18`). Every entrance (the API, the admin's step editor and its
audience search, the staff commands) refuses anything else, the client
refuses it again before any HTTP call, and ids Pinterest sends back are
checked before they go into the next path. The sandbox sees every request
line the service sends (recorded as it arrives, before its routing), and
each must be the operation of Pinterest's description
(integrations/pinterest/spec/openapi-v5.json) the entrance meant.
"""

from __future__ import annotations

import json
import os
import re
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audiences import services
from audiences.models import Audience, Step
from integrations.services.connections import connection_connect
from integrations.services.tokens import client_for
from integrations.models import PinterestConnection
from integrations.pinterest import client as pinterest
from tests.api_support import _fresh_throttle_counts, acme_api, error_of, pinterest_audience  # noqa: F401

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parent.parent
# Pinterest's own description, kept in the repository (as tests/test_contract.py reads it).
SPEC = Path(os.environ.get("PINTEREST_OPENAPI_SPEC") or REPO / "integrations" / "pinterest" / "spec" / "openapi-v5.json")

# What people have pasted, or would paste, where an id belongs.
NOT_IDS = [
    "../../../user_account",
    "../../549755814589",
    "549755814589/../../../user_account",
    "..%2F..%2Fuser_account",
    "%2e%2e/%2e%2e/user_account",
    "..\\..\\user_account",
    "123?page_size=250",
    "123#fragment",
    "123/customer_lists",
    "123\n",
    " 123",
    "123 ",
    "\u0661\u0662\u0663",  # Arabic-Indic digits: \d matches them, Pinterest does not
    "1234567890123456789",  # 19 digits
    "-1",
    "1e5",
    "0x1f",
    "user_account",
    "",
]


@pytest.fixture
def wire(sandbox):
    """Every request line that reaches the sandbox, as (method, raw path), whatever its route."""
    seen: list[tuple[str, str]] = []

    def recording(received):
        seen.append((received.method, received.path))

    sandbox.state.observers.append(recording)
    yield seen
    sandbox.state.observers.remove(recording)


def documented_operations() -> dict[str, tuple[str, re.Pattern]]:
    """operationId -> (method, path regex) for every operation of Pinterest's v5 description."""
    spec = json.loads(SPEC.read_text())
    return {
        operation["operationId"]: (
            method.upper(), re.compile("/v5" + re.sub(r"\{[^}]+\}", "[0-9]{1,18}", template) + r"(\?[^#]*)?")
        )
        for template, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }


def operations_of(seen: list[tuple[str, str]]) -> list[str]:
    """The documented operation of each request; fails on any request that is none."""
    operations = documented_operations()
    named = []
    for method, path in seen:
        matches = [op for op, (m, pattern) in operations.items() if m == method and pattern.fullmatch(path)]
        assert matches, f"{method} {path} is not an operation of Pinterest's API"
        named.append(matches[0])
    return named


@pytest.fixture
def draft(acme, ad_account):
    return services.canvas_create(workspace=acme, name="Win-back")


# --- The client -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", NOT_IDS)
def test_the_client_refuses_an_id_that_is_not_one_before_any_request(connection, ad_account, wire, bad):
    good = ad_account.pinterest_id
    client = client_for(connection)
    calls = [
        lambda: client.audience_get(bad, "1"),
        lambda: client.audience_get(good, bad),
        lambda: client.audiences_page(bad),
        lambda: client.customer_list_get(good, bad),
        lambda: client.customer_list_update(good, bad, operation="ADD", records=["a" * 64]),
        lambda: client.customer_list_create(bad, name="x", list_type="EMAIL", records=["a" * 64]),
        lambda: client.customer_lists_page(bad),
        lambda: client.audience_create_from_list(good, name="x", customer_list_id=bad),
        lambda: client.audience_create_actalike(good, name="x", seed_audience_id=bad, country="US", percentage=1),
    ]
    for call in calls:
        with pytest.raises(pinterest.RequestError) as refused:
            call()
        assert isinstance(refused.value, pinterest.InvalidId)
        assert bad not in refused.value.message or not bad
    assert wire == []


def test_the_client_takes_only_path_templates(connection, wire):
    # Every call of the client builds its path here (the one way to a Pinterest path).
    for path in ["/ad_accounts/../user_account", "/ad_accounts/123/audiences", "/user_account?x=1", "user_account"]:
        with pytest.raises(pinterest.RequestError):
            pinterest.api_path(path)
    with pytest.raises(pinterest.RequestError):  # a placeholder left unfilled
        pinterest.api_path("/ad_accounts/{ad_account_id}/audiences")
    assert wire == []
    assert pinterest.api_path("/ad_accounts/{ad_account_id}/audiences/{audience_id}",
                              ad_account_id="549755813599", audience_id="42") == "/ad_accounts/549755813599/audiences/42"


def test_an_id_pinterest_sends_back_is_checked_before_it_is_used_in_a_path(acme_api, draft, sandbox, ad_account, wire):
    remote_id = pinterest_audience(sandbox, ad_account, "Subscribers")
    sandbox.state.audiences_by_id[remote_id].rule = {"customer_list_id": "../../../user_account"}

    response = acme_api.post(f"/api/v1/canvases/{draft.pk}/steps/",
                             {"ad_account": ad_account.pinterest_id, "audience": remote_id}, format="json")

    assert response.status_code == 503, response.json()
    assert operations_of(wire) == ["audiences/get"]  # and not the customer list at that "id"
    assert not Step.objects.exists() and not Audience.objects.exists()


def test_ad_accounts_pinterest_lists_are_checked_too(acme, sandbox, pinterest_user, wire):
    owner = sandbox.state.users[pinterest_user["user"]["id"]]
    sandbox.state.add_ad_account(owner, name="Odd", account_id="../../user_account")
    tokens = pinterest_user["tokens"]

    with pytest.raises(pinterest.TransientError):
        connection_connect(workspace=acme, tokens=pinterest.TokenSet(
            tokens["access_token"], tokens["refresh_token"], None, None, ""))

    assert operations_of(wire) == ["user_account/get", "ad_accounts/list"]
    assert not PinterestConnection.objects.filter(workspace=acme).exists()


# --- The API ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", NOT_IDS)
def test_the_api_refuses_an_audience_or_ad_account_that_is_not_a_pinterest_id(acme_api, draft, ad_account, wire, bad):
    url = f"/api/v1/canvases/{draft.pk}/steps/"
    step = services.step_create_audience_sync(canvas=draft, ad_account=ad_account)

    for method, path, body in [
        ("post", url, {"ad_account": ad_account.pinterest_id, "audience": bad}),
        ("post", url, {"ad_account": bad}),
        ("patch", f"/api/v1/steps/{step.pk}/", {"audience": bad}),
        ("patch", f"/api/v1/steps/{step.pk}/", {"ad_account": bad}),
    ]:
        response = getattr(acme_api, method)(path, body, format="json")
        assert response.status_code == 400, (body, response.json())
        field = next(iter(body.keys() - {"ad_account"} or {"ad_account"}))
        assert field in error_of(response)["details"]["fields"]

    response = acme_api.get(f"/api/v1/ad-accounts/{quote(bad, safe='')}/audiences/")
    assert response.status_code in (400, 404)
    error_of(response)
    assert wire == []
    assert Step.objects.count() == 1 and not Audience.objects.exists()


def test_the_api_calls_only_the_operations_it_means(acme_api, draft, sandbox, ad_account, wire):
    remote_id = pinterest_audience(sandbox, ad_account, "Newsletter")
    url = f"/api/v1/canvases/{draft.pk}/steps/"

    assert acme_api.post(url, {"ad_account": ad_account.pinterest_id, "audience": "999999"},
                         format="json").status_code == 400
    assert acme_api.post(url, {"ad_account": ad_account.pinterest_id, "audience": remote_id},
                         format="json").status_code == 201
    assert acme_api.get(f"/api/v1/ad-accounts/{ad_account.pinterest_id}/audiences/").status_code == 200

    assert operations_of(wire) == ["audiences/get", "audiences/get", "customer_lists/get", "audiences/list"]
    account = ad_account.pinterest_id
    assert [path.split("?")[0] for _, path in wire] == [
        f"/v5/ad_accounts/{account}/audiences/999999",
        f"/v5/ad_accounts/{account}/audiences/{remote_id}",
        f"/v5/ad_accounts/{account}/customer_lists/{sandbox.state.audiences_by_id[remote_id].rule['customer_list_id']}",
        f"/v5/ad_accounts/{account}/audiences",
    ]


# --- The admin ----------------------------------------------------------------------------------


def editor_post(client, step, ad_account, **extra):
    data = {"name": "", "ad_account": ad_account.pk, "audience_name": "Picked", "pinterest_audience_id": "",
            "action": "add", "match_email": "on", **extra}
    return client.post(reverse("admin:audiences_step_edit", args=[step.pk]), data)


@pytest.mark.parametrize("bad", [b for b in NOT_IDS if b])
def test_the_step_editor_refuses_a_hidden_audience_id_that_is_not_one(client, alice, draft, ad_account, wire, bad):
    step = services.step_create_audience_sync(canvas=draft, ad_account=ad_account)
    client.force_login(alice)

    response = editor_post(client, step, ad_account, pinterest_audience_id=bad)

    assert response.status_code == 200
    assert "This is not a Pinterest audience id" in response.content.decode()
    assert wire == []
    step.refresh_from_db()
    assert step.audience is None and not Audience.objects.exists()


@pytest.mark.parametrize("bad", ["'", "1'", "1 OR 1=1", "../../x", "-1", "1.5", "99999999999999999999999", "١",
                                 "%00", "\x00", ""])
def test_the_audience_search_refuses_an_ad_account_that_is_not_a_row_id(client, alice, draft, ad_account, wire, bad):
    step = services.step_create_audience_sync(canvas=draft, ad_account=ad_account)
    client.force_login(alice)

    response = client.get(reverse("admin:audiences_step_audience_search", args=[step.pk]), {"ad_account": bad})

    assert response.status_code == 400
    assert response.json() == {"error": "Choose an ad account first."}
    assert wire == []


def test_the_admin_calls_only_the_operations_it_means(client, alice, draft, sandbox, ad_account, wire):
    remote_id = pinterest_audience(sandbox, ad_account, "Newsletter")
    step = services.step_create_audience_sync(canvas=draft, ad_account=ad_account)
    client.force_login(alice)

    search = client.get(reverse("admin:audiences_step_audience_search", args=[step.pk]),
                        {"ad_account": ad_account.pk, "q": "news"})
    assert [item["id"] for item in search.json()["items"]] == [remote_id]
    editor_post(client, step, ad_account, pinterest_audience_id=remote_id)

    step.refresh_from_db()
    assert step.audience.pinterest_audience_id == remote_id
    assert operations_of(wire) == ["audiences/list", "audiences/get", "customer_lists/get"]
    assert all(f"/v5/ad_accounts/{ad_account.pinterest_id}/" in path for _, path in wire)


# --- The commands -------------------------------------------------------------------------------


# The command takes "1, 2": spaces around an id are the list's, not the id's.
@pytest.mark.parametrize("bad", [b for b in NOT_IDS if b.strip() and not pinterest.is_valid_id(b.strip())])
def test_pinterest_connect_refuses_ad_accounts_that_are_not_ids(acme, pinterest_user, wire, bad):
    tokens = pinterest_user["tokens"]
    with pytest.raises(CommandError, match="not a Pinterest ad account id"):
        call_command("pinterest_connect", "--workspace", "acme", "--access-token", tokens["access_token"],
                     "--refresh-token", tokens["refresh_token"], f"--ad-accounts={bad},549755813599",
                     stdout=StringIO())
    assert wire == []


@pytest.mark.parametrize("token", ["pina_abc\r\nX-Injected: 1", "pina_\u00e9", "", "x" * 5000])
def test_pinterest_connect_refuses_a_token_that_cannot_be_one(acme, wire, token):
    with pytest.raises(CommandError, match="not a Pinterest token"):
        call_command("pinterest_connect", "--workspace", "acme", "--access-token", token, "--refresh-token", "pinr_x",
                     stdout=StringIO())
    assert wire == []


def test_pinterest_connect_calls_only_the_operations_it_means(acme, pinterest_user, wire):
    tokens = pinterest_user["tokens"]
    first = pinterest_user["user"]["ad_account_ids"][0]

    call_command("pinterest_connect", "--workspace", "acme", "--access-token", tokens["access_token"],
                 "--refresh-token", tokens["refresh_token"], "--ad-accounts", first, stdout=StringIO())

    assert operations_of(wire) == ["user_account/get", "ad_accounts/list"]
    assert list(acme.pinterest_connection.ad_accounts.filter(enabled=True).values_list("pinterest_id", flat=True)) \
        == [first]


def test_the_ad_account_choice_page_ignores_values_that_are_not_its_ad_accounts(client, alice, connection, wire):
    first = connection.ad_accounts.order_by("pinterest_id").first()
    client.force_login(alice)

    response = client.post("/pinterest/acme/ad-accounts/", {"ad_account": [first.pinterest_id, "../../user_account", "'"]})

    assert response.status_code == 302
    assert list(connection.ad_accounts.filter(enabled=True).values_list("pinterest_id", flat=True)) == [
        first.pinterest_id]
    assert wire == []
