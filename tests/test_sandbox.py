"""The local Pinterest sandbox behaves like Pinterest where it matters: limits, errors, OAuth, paging."""

import base64
import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from integrations.pinterest.sandbox import SandboxServer
from tests.sandbox_control import SandboxControl


@pytest.fixture
def server():
    with SandboxServer(client_id="cid", client_secret="secret") as running:
        yield running


@pytest.fixture
def user(server):
    created = server.state.create_user(username="ads", ad_accounts=1)
    tokens = server.state.issue_tokens(created["id"])
    return {"id": created["id"], "ad_account": created["ad_account_ids"][0], "token": tokens["access_token"],
            "refresh": tokens["refresh_token"]}


def call(server, method, path, token, **kwargs):
    return requests.request(method, server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs)


def records(n, start=0):
    return ",".join(f"{i:064x}" for i in range(start, start + n))


def test_it_refuses_1901_records_in_one_request_and_takes_1900(server, user):
    path = f"/ad_accounts/{user['ad_account']}/customer_lists"
    refused = call(server, "POST", path, user["token"], json={"name": "big", "records": records(1901)})
    assert refused.status_code == 400
    assert set(refused.json()) == {"code", "message"} and "1900" in refused.json()["message"]

    accepted = call(server, "POST", path, user["token"], json={"name": "big", "records": records(1900)})
    assert accepted.status_code == 200
    assert accepted.json()["num_uploaded_user_records"] == 1900


def test_it_answers_the_8th_request_in_one_second_with_429_and_pinterests_body(server, user):
    other = server.state.issue_tokens(server.state.create_user(username="other", ad_accounts=1)["id"])["access_token"]
    first_sent = time.monotonic()
    answers = [call(server, "GET", "/user_account", user["token"]) for _ in range(8)]
    assert [a.status_code for a in answers] == [200] * 7 + [429]
    assert answers[-1].json()["code"] == 8 and "rate limit" in answers[-1].json()["message"]
    assert answers[-1].headers["Retry-After"] == "1"
    assert call(server, "GET", "/user_account", other).status_code == 200  # another user's budget

    # Refused requests do not count: asking until one is answered shows when the budget comes back.
    while (again := call(server, "GET", "/user_account", user["token"])).status_code == 429:
        assert time.monotonic() - first_sent < 5, "the rolling second never ended"
    assert again.status_code == 200
    assert time.monotonic() - first_sent >= 0.9  # not before the rolling second of the first 7 ended


def test_it_answers_revoked_and_expired_tokens_with_401(server, user):
    server.state.revoke(user["token"])
    revoked = call(server, "GET", "/user_account", user["token"])
    assert revoked.status_code == 401
    assert revoked.json() == {"code": 2, "message": "Authentication failed."}

    fresh = server.state.issue_tokens(user["id"])["access_token"]
    server.state.expire(fresh)
    assert call(server, "GET", "/user_account", fresh).status_code == 401


def test_a_list_under_100_is_too_small_and_cannot_become_an_audience(server, user):
    base = f"/ad_accounts/{user['ad_account']}"
    small = call(server, "POST", f"{base}/customer_lists", user["token"], json={"name": "s", "records": records(99)}).json()
    assert small["status"] == "TOO_SMALL" and small["id"].isdigit()
    refused = call(server, "POST", f"{base}/audiences", user["token"],
                   json={"name": "a", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": small["id"]}})
    assert refused.status_code == 400

    grown = call(server, "PATCH", f"{base}/customer_lists/{small['id']}", user["token"],
                 json={"operation_type": "ADD", "records": records(1, start=500)}).json()
    assert grown["status"] == "READY"
    audience = call(server, "POST", f"{base}/audiences", user["token"],
                    json={"name": "a", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": small["id"]}})
    assert audience.status_code == 200 and audience.json()["size"] == 100

    server.state.delete_audience(audience.json()["id"])
    gone = call(server, "GET", f"{base}/audiences/{audience.json()['id']}", user["token"])
    assert gone.status_code == 404 and gone.json()["message"] == "Audience not found."


def test_it_pages_ad_accounts_with_bookmarks(server):
    created = server.state.create_user(username="agency", ad_accounts=60)
    token = server.state.issue_tokens(created["id"])["access_token"]
    seen, bookmark, pages = [], None, 0
    while True:
        params = {"page_size": 25, **({"bookmark": bookmark} if bookmark else {})}
        page = call(server, "GET", "/ad_accounts", token, params=params).json()
        seen += [a["id"] for a in page["items"]]
        pages += 1
        bookmark = page["bookmark"]
        if not bookmark:
            break
    assert pages == 3 and len(set(seen)) == 60
    assert call(server, "GET", "/ad_accounts", token, params={"page_size": 251}).status_code == 400


def test_the_oauth_dance_gives_rotating_tokens(server):
    consent = requests.get(server.oauth_authorize_url, params={
        "client_id": "cid", "redirect_uri": "http://app.test/cb", "response_type": "code",
        "scope": "ads:read,ads:write,user_accounts:read", "state": "xyz"}, timeout=10)
    assert consent.status_code == 200 and 'id="allow"' in consent.text
    answer = requests.post(server.oauth_authorize_url, data={
        "client_id": "cid", "redirect_uri": "http://app.test/cb", "response_type": "code", "scope": "ads:read",
        "state": "xyz", "decision": "allow", "username": "dana"}, allow_redirects=False, timeout=10)
    query = parse_qs(urlparse(answer.headers["Location"]).query)
    assert query["state"] == ["xyz"]

    basic = {"Authorization": "Basic " + base64.b64encode(b"cid:secret").decode()}
    token_url = server.url + "/oauth/token"
    form = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": "http://app.test/cb"}
    tokens = requests.post(token_url, data=form, headers=basic, timeout=10).json()
    assert tokens["access_token"].startswith("pina_") and tokens["refresh_token"].startswith("pinr_")
    assert requests.post(token_url, data=form, headers=basic, timeout=10).status_code == 400  # one-time code

    wrong = {"Authorization": "Basic " + base64.b64encode(b"cid:nope").decode()}
    assert requests.post(token_url, data=form, headers=wrong, timeout=10).status_code == 401

    refreshed = requests.post(token_url, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                              headers=basic, timeout=10).json()
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    again = requests.post(token_url, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                          headers=basic, timeout=10)
    assert again.status_code == 400  # the old refresh token was spent


def test_cancel_on_the_consent_page_redirects_with_access_denied(server):
    answer = requests.post(server.oauth_authorize_url, data={
        "client_id": "cid", "redirect_uri": "http://app.test/cb", "response_type": "code", "state": "s1",
        "decision": "deny"}, allow_redirects=False, timeout=10)
    assert parse_qs(urlparse(answer.headers["Location"]).query) == {"error": ["access_denied"], "state": ["s1"]}


def test_it_can_be_told_to_misbehave_from_another_process(server, user):
    control = SandboxControl(server.url)
    control.fail_next(2, 503)
    assert [call(server, "GET", "/user_account", user["token"]).status_code for _ in range(3)] == [503, 503, 200]
    control.set_faults(rate_429=1.0)
    assert call(server, "GET", "/user_account", user["token"]).status_code == 429
    control.set_faults(rate_500=1.0)
    assert call(server, "GET", "/user_account", user["token"]).status_code == 500
    control.set_faults(rate_429=0.0, latency_ms=300)
    started = time.monotonic()
    assert call(server, "GET", "/user_account", user["token"]).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert control.revoke(user["token"]) is True
    assert call(server, "GET", "/user_account", user["token"]).status_code == 401
    assert all("x-pinterest-rid" in call(server, "GET", "/user_account", user["token"]).headers for _ in range(2))
