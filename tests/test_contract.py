"""What the client sends and what the sandbox answers match Pinterest's own OpenAPI description.

Every request the client makes and every response it receives is captured
on the wire (a `requests` response hook on the client's session) and
validated with openapi-core against Pinterest's v5 description (the sandbox
URL is mapped onto https://api.pinterest.com/v5). One test per operation the
service calls, error answers included.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.pinterest import client as pinterest

REPO = Path(__file__).resolve().parent.parent
# Pinterest's own description, kept in the repository (MIT); another copy can be named instead.
SPEC = Path(os.environ.get("PINTEREST_OPENAPI_SPEC") or REPO / "integrations" / "pinterest" / "spec" / "openapi-v5.json")
PINTEREST = "https://api.pinterest.com/v5"

pytestmark = [
    pytest.mark.django_db,
    # openapi-core does not check OAuth2 security schemes: check() looks at Authorization itself.
    pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning"),
]


def test_pinterests_description_is_there():
    # Without it every contract test below would prove nothing: fail loudly rather than skip.
    assert SPEC.is_file(), f"Pinterest's OpenAPI description is missing: {SPEC}"

# (method, path pattern) -> operationId, for the operations the service calls.
OPERATIONS = {
    ("POST", r"/oauth/token"): "oauth/token",
    ("GET", r"/user_account"): "user_account/get",
    ("GET", r"/ad_accounts"): "ad_accounts/list",
    ("POST", r"/ad_accounts/\d+/customer_lists"): "customer_lists/create",
    ("GET", r"/ad_accounts/\d+/customer_lists"): "customer_lists/list",
    ("GET", r"/ad_accounts/\d+/customer_lists/\d+"): "customer_lists/get",
    ("PATCH", r"/ad_accounts/\d+/customer_lists/\d+"): "customer_lists/update",
    ("POST", r"/ad_accounts/\d+/audiences"): "audiences/create",
    ("GET", r"/ad_accounts/\d+/audiences"): "audiences/list",
    ("GET", r"/ad_accounts/\d+/audiences/\d+"): "audiences/get",
    ("PATCH", r"/ad_accounts/\d+/audiences/\d+"): "audiences/update",
}


@pytest.fixture(scope="module")
def openapi():
    from openapi_core import OpenAPI

    return OpenAPI.from_file_path(str(SPEC))  # ~2 MB: once per module


@pytest.fixture
def wire(sandbox):
    """Every response the client receives in this test (each carries its request).

    Set up before `connection`, so the calls connecting makes are checked too.
    """
    captured: list = []

    def hook(response, *args, **kwargs):
        captured.append(response)

    session = pinterest.http_session()
    session.hooks["response"].append(hook)
    yield captured
    session.hooks["response"].remove(hook)


def operation(response, sandbox) -> str:
    path = urlsplit(response.request.url).path.removeprefix(urlsplit(sandbox.url).path)
    for (method, pattern), name in OPERATIONS.items():
        if response.request.method == method and re.fullmatch(pattern, path):
            return name
    raise AssertionError(f"the client called an operation this test does not know: {response.request.method} {path}")


def check(openapi, sandbox, responses) -> list[tuple[str, int]]:
    """Validate each exchange against the spec; returns (operation, status) of each."""
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    seen = []
    for response in responses:
        request = response.request.copy()
        assert request.url.startswith(sandbox.url)
        request.url = PINTEREST + request.url[len(sandbox.url):]
        wrapped = RequestsOpenAPIRequest(request)
        name = operation(response, sandbox)
        scheme = "Basic " if name == "oauth/token" else "Bearer "
        assert request.headers.get("Authorization", "").startswith(scheme), f"{name}: not sent with {scheme.strip()}"
        try:
            openapi.validate_request(wrapped)
        except Exception as exc:
            raise AssertionError(f"{name}: the client's request breaks Pinterest's spec: {describe(exc)}") from None
        try:
            openapi.validate_response(wrapped, RequestsOpenAPIResponse(response))
        except Exception as exc:
            raise AssertionError(
                f"{name}: the sandbox's {response.status_code} answer breaks Pinterest's spec: {describe(exc)}"
            ) from None
        seen.append((name, response.status_code))
    return seen


def describe(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    for detail in getattr(exc, "schema_errors", None) or getattr(exc.__cause__, "schema_errors", None) or []:
        parts.append(f"{'/'.join(str(p) for p in detail.path)}: {detail.message}")
    return "; ".join(parts)


def hashes(n: int) -> list[str]:
    return [hashlib.sha256(f"user{i}@example.com".encode()).hexdigest() for i in range(n)]


@pytest.fixture
def api(connection):
    """The client as the service uses it: the connection's token through the shared limiter."""
    from integrations.services.tokens import client_for

    return client_for(connection)


@pytest.fixture
def ad_account_id(ad_account) -> str:
    return ad_account.pinterest_id


# --- OAuth -----------------------------------------------------------------------------------------


def test_oauth_token_authorization_code(openapi, sandbox, wire, pinterest_user):
    redirect_uri = "https://sync.example.test/pinterest/callback/"
    code = sandbox.state.grant_code(
        client_id="test-client-id", redirect_uri=redirect_uri, scope="ads:read,ads:write,user_accounts:read",
        username="acme-ads",
    )

    tokens = pinterest.exchange_code(code=code, redirect_uri=redirect_uri)

    assert tokens.access_token and tokens.refresh_token
    assert check(openapi, sandbox, wire) == [("oauth/token", 200)]
    sent = parse_qs(wire[0].request.body)
    assert sent == {"grant_type": ["authorization_code"], "code": [code], "redirect_uri": [redirect_uri]}
    assert wire[0].request.headers["Authorization"].startswith("Basic ")
    assert wire[0].request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_oauth_token_refresh_token(openapi, sandbox, wire, pinterest_user):
    tokens = pinterest.refresh_tokens(refresh_token=pinterest_user["tokens"]["refresh_token"])

    assert tokens.refresh_token != pinterest_user["tokens"]["refresh_token"]
    assert check(openapi, sandbox, wire) == [("oauth/token", 200)]
    sent = parse_qs(wire[0].request.body)
    assert sent["grant_type"] == ["refresh_token"]


def test_oauth_token_refused(openapi, sandbox, wire):
    with pytest.raises(pinterest.RequestError):
        pinterest.refresh_tokens(refresh_token="pinr_not-a-token")

    assert check(openapi, sandbox, wire) == [("oauth/token", 400)]


# --- User and ad accounts ------------------------------------------------------------------------------


def test_user_account_get(openapi, sandbox, wire, api):
    assert api.user_account().username == "acme-ads"

    assert check(openapi, sandbox, wire)[-1:] == [("user_account/get", 200)]


def test_user_account_get_with_a_revoked_token(openapi, sandbox, wire, api, pinterest_user):
    sandbox.state.revoke(pinterest_user["tokens"]["access_token"])

    with pytest.raises(pinterest.AuthError) as refused:
        api.user_account()

    assert check(openapi, sandbox, wire)[-1:] == [("user_account/get", 401)]
    assert refused.value.code == 2 and refused.value.request_id  # Pinterest's code and x-pinterest-rid kept


def test_ad_accounts_list_following_the_bookmark(openapi, sandbox, wire, api):
    accounts = list(api.ad_accounts(page_size=1))

    assert len(accounts) == 2
    assert check(openapi, sandbox, wire)[-2:] == [("ad_accounts/list", 200)] * 2
    assert "bookmark" in parse_qs(urlsplit(wire[-1].request.url).query)


# --- Customer lists ----------------------------------------------------------------------------------------


def test_customer_lists_create(openapi, sandbox, wire, api, ad_account_id):
    created = api.customer_list_create(ad_account_id, name="Welcome audience · EMAIL", list_type="EMAIL",
                                       records=hashes(3))

    assert created.id
    assert check(openapi, sandbox, wire)[-1:] == [("customer_lists/create", 200)]


def test_customer_lists_update_add_and_remove(openapi, sandbox, wire, api, ad_account_id):
    created = api.customer_list_create(ad_account_id, name="Buyers", list_type="MAID", records=hashes(2))

    api.customer_list_update(ad_account_id, created.id, operation="ADD", records=hashes(5))
    api.customer_list_update(ad_account_id, created.id, operation="REMOVE", records=hashes(1))

    assert check(openapi, sandbox, wire)[-3:] == [("customer_lists/create", 200), ("customer_lists/update", 200),
                                                  ("customer_lists/update", 200)]


def test_customer_lists_update_rate_limited(openapi, sandbox, wire, api, ad_account_id):
    created = api.customer_list_create(ad_account_id, name="Buyers", list_type="EMAIL", records=hashes(2))
    sandbox.state.fail_next(1, 429)

    with pytest.raises(pinterest.RateLimited):
        api.customer_list_update(ad_account_id, created.id, operation="ADD", records=hashes(5))

    assert check(openapi, sandbox, wire)[-1] == ("customer_lists/update", 429)


def test_customer_lists_get_and_list(openapi, sandbox, wire, api, ad_account_id):
    created = api.customer_list_create(ad_account_id, name="Buyers", list_type="EMAIL", records=hashes(2))

    assert api.customer_list_get(ad_account_id, created.id).id == created.id
    assert [item.id for item in api.customer_lists_page(ad_account_id, page_size=250).items] == [created.id]

    assert check(openapi, sandbox, wire)[-3:] == [("customer_lists/create", 200), ("customer_lists/get", 200),
                                                  ("customer_lists/list", 200)]


# --- Audiences ----------------------------------------------------------------------------------------------


@pytest.fixture
def ready_list(api, ad_account_id):
    """A customer list Pinterest has matched 100 users in: audiences can be made from it."""
    return api.customer_list_create(ad_account_id, name="Welcome audience · EMAIL", list_type="EMAIL",
                                    records=hashes(120))


def test_audiences_create_from_a_customer_list(openapi, sandbox, wire, api, ad_account_id, ready_list):
    audience = api.audience_create_from_list(ad_account_id, name="Welcome audience", customer_list_id=ready_list.id,
                                             description="Users who reached the welcome step")

    assert audience.customer_list_id == ready_list.id
    assert check(openapi, sandbox, wire)[-1] == ("audiences/create", 200)


def test_audiences_create_actalike(openapi, sandbox, wire, api, ad_account_id, ready_list):
    seed = api.audience_create_from_list(ad_account_id, name="Buyers", customer_list_id=ready_list.id)

    api.audience_create_actalike(ad_account_id, name="Like buyers", seed_audience_id=seed.id, country="US",
                                 percentage=5)

    assert check(openapi, sandbox, wire)[-2:] == [("audiences/create", 200)] * 2


def test_audiences_get_and_list(openapi, sandbox, wire, api, ad_account_id, ready_list):
    audience = api.audience_create_from_list(ad_account_id, name="Welcome audience", customer_list_id=ready_list.id)

    assert api.audience_get(ad_account_id, audience.id).name == "Welcome audience"
    assert [item.id for item in api.audiences_page(ad_account_id, page_size=250).items] == [audience.id]

    assert check(openapi, sandbox, wire)[-2:] == [("audiences/get", 200), ("audiences/list", 200)]


def test_audiences_get_of_a_deleted_audience(openapi, sandbox, wire, api, ad_account_id, ready_list):
    audience = api.audience_create_from_list(ad_account_id, name="Gone", customer_list_id=ready_list.id)
    sandbox.state.delete_audience(audience.id)

    with pytest.raises(pinterest.NotFound):
        api.audience_get(ad_account_id, audience.id)

    assert check(openapi, sandbox, wire)[-1] == ("audiences/get", 404)
