"""A marketer connects the workspace's Pinterest account, chooses ad accounts and disconnects.

The OAuth dance runs over real HTTP against the sandbox: our connect button
redirects to the sandbox's consent page, which is submitted the way a browser
would; the sandbox's redirect comes back to our callback.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.contrib.messages import get_messages
from django.urls import reverse

from integrations.models import AdAccount, PinterestConnection

pytestmark = pytest.mark.django_db

PARTNER = "/pinterest/acme/"


# --- A browser, just enough of one ---------------------------------------------------------


class _Forms(HTMLParser):
    """The forms of a page: action, method, fields, and the submit buttons by id."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action") or "", "method": (a.get("method") or "get").lower(),
                               "fields": [], "buttons": {}})
        elif not self.forms:
            return
        elif tag in ("input", "button"):
            kind = (a.get("type") or ("submit" if tag == "button" else "text")).lower()
            if kind == "submit":
                self.forms[-1]["buttons"][a.get("id") or a.get("name") or ""] = (a.get("name"), a.get("value") or "")
            elif kind in ("checkbox", "radio"):
                if "checked" in a and a.get("name"):
                    self.forms[-1]["fields"].append((a["name"], a.get("value") or "on"))
            elif a.get("name"):
                self.forms[-1]["fields"].append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select:
            if "selected" in a or not any(n == self._select for n, _ in self.forms[-1]["fields"]):
                self.forms[-1]["fields"] = [f for f in self.forms[-1]["fields"] if f[0] != self._select]
                self.forms[-1]["fields"].append((self._select, a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def press(page_url: str, button_id: str, **typed: str) -> str:
    """Open page_url, type into fields, press the submit button with this id; returns the redirect."""
    browser = requests.Session()
    page = browser.get(page_url, timeout=10)
    page.raise_for_status()
    parser = _Forms()
    parser.feed(page.text)
    form = next(f for f in parser.forms if button_id in f["buttons"])
    name, value = form["buttons"][button_id]
    fields = [(key, typed.pop(key, value)) for key, value in form["fields"]] + ([(name, value)] if name else [])
    assert not typed, f"no such fields: {typed}"
    action = urljoin(page.url, form["action"] or page.url)
    if form["method"] == "post":
        answer = browser.post(action, data=fields, allow_redirects=False, timeout=10)
    else:
        answer = browser.get(action, params=fields, allow_redirects=False, timeout=10)
    assert answer.status_code in (301, 302, 303, 307), answer.text[:500]
    return answer.headers["Location"]


def local_path(url: str) -> str:
    """Our callback URL as the Django test client wants it: path and query."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def marketer(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def pinterest_account(sandbox):
    """The Pinterest user who signs in on the sandbox's consent page."""
    return sandbox.state.create_user(username="acme-ads", ad_accounts=3)


def start_connect(marketer) -> dict:
    """Press Connect Pinterest with the terms ticked; returns the authorize URL's query."""
    response = marketer.post(reverse("integrations:connect", args=["acme"]), {"accept_terms": "1"})
    assert response.status_code == 302
    return response["Location"]


# --- The whole dance -----------------------------------------------------------------------------


def test_it_connects_chooses_ad_accounts_and_disconnects(marketer, alice, sandbox, pinterest_account):
    page = marketer.get(PARTNER)
    assert page.status_code == 200
    assert b"Not connected" in page.content and b"Connect Pinterest" in page.content

    authorize = start_connect(marketer)
    assert authorize.startswith(sandbox.oauth_authorize_url)
    query = parse_qs(urlsplit(authorize).query)
    assert query["client_id"] == ["test-client-id"]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["ads:read,ads:write,user_accounts:read"]
    assert query["redirect_uri"] == ["http://testserver/pinterest/callback/"]
    assert len(query["state"][0]) >= 32

    back = press(authorize, "allow", username="acme-ads")
    assert back.startswith("http://testserver/pinterest/callback/")
    assert parse_qs(urlsplit(back).query)["state"] == query["state"]
    response = marketer.get(local_path(back))

    assert response.status_code == 302
    assert response["Location"] == reverse("integrations:ad_accounts", args=["acme"])
    connection = PinterestConnection.objects.get(workspace__slug="acme")
    assert connection.status == PinterestConnection.Status.VALID
    assert connection.pinterest_user_id == str(pinterest_account["id"])
    assert connection.pinterest_username == "acme-ads"
    assert connection.terms_accepted_by == alice and connection.terms_accepted_at is not None
    assert connection.access_token and connection.refresh_token
    assert connection.ad_accounts.count() == 3
    assert not connection.ad_accounts.filter(enabled=True).exists()  # the marketer chooses next
    token_call = [r for r in sandbox.state.requests_log() if r["path"].endswith("/oauth/token")]
    assert len(token_call) == 1

    choose = marketer.get(response["Location"])
    assert choose.status_code == 200
    accounts = list(connection.ad_accounts.order_by("pinterest_id"))
    for account in accounts:
        assert account.pinterest_id.encode() in choose.content
    saved = marketer.post(response["Location"], {"ad_account": [accounts[0].pinterest_id, accounts[2].pinterest_id]})
    assert saved.status_code == 302 and saved["Location"] == PARTNER
    assert set(connection.ad_accounts.filter(enabled=True).values_list("pinterest_id", flat=True)) == {
        accounts[0].pinterest_id, accounts[2].pinterest_id
    }

    page = marketer.get(PARTNER)
    assert b"Connected" in page.content and b"acme-ads" in page.content
    assert connection.pinterest_user_id.encode() in page.content
    assert connection.access_token.encode() not in page.content
    assert connection.refresh_token.encode() not in page.content

    confirm = marketer.get(reverse("integrations:disconnect", args=["acme"]))
    assert confirm.status_code == 200 and b"Yes, disconnect" in confirm.content
    assert PinterestConnection.objects.get(pk=connection.pk).status == PinterestConnection.Status.VALID
    gone = marketer.post(reverse("integrations:disconnect", args=["acme"]))
    assert gone.status_code == 302
    connection.refresh_from_db()
    assert connection.status == PinterestConnection.Status.DISCONNECTED
    assert connection.access_token_encrypted == "" and connection.refresh_token_encrypted == ""
    assert b"Disconnected" in marketer.get(PARTNER).content


def test_reconnecting_keeps_the_ad_accounts_the_workspace_chose(marketer, sandbox, pinterest_account):
    marketer.get(local_path(press(start_connect(marketer), "allow", username="acme-ads")))
    connection = PinterestConnection.objects.get(workspace__slug="acme")
    chosen = connection.ad_accounts.order_by("pinterest_id").first()
    marketer.post(reverse("integrations:ad_accounts", args=["acme"]), {"ad_account": [chosen.pinterest_id]})

    response = marketer.get(local_path(press(start_connect(marketer), "allow", username="acme-ads")))

    assert response.status_code == 302
    assert list(connection.ad_accounts.filter(enabled=True)) == [chosen]


def test_denying_on_pinterest_shows_a_clear_message_and_stores_nothing(marketer, sandbox, pinterest_account):
    back = press(start_connect(marketer), "deny", username="acme-ads")
    assert parse_qs(urlsplit(back).query)["error"] == ["access_denied"]

    response = marketer.get(local_path(back))

    assert response.status_code == 302 and response["Location"] == PARTNER
    assert any("declined" in text for text in message_texts(response))
    assert not PinterestConnection.objects.exists()
    assert not [r for r in sandbox.state.requests_log() if r["path"].endswith("/oauth/token")]
    page = marketer.get(PARTNER)
    assert b"declined" in page.content and b"Not connected" in page.content


def test_a_wrong_state_gets_403_and_stores_nothing(marketer, sandbox, pinterest_account):
    back = press(start_connect(marketer), "allow", username="acme-ads")
    query = parse_qs(urlsplit(back).query)

    forged = marketer.get(reverse("integrations:callback"), {"code": query["code"][0], "state": "forged-state"})

    assert forged.status_code == 403
    assert not PinterestConnection.objects.exists() and not AdAccount.objects.exists()
    assert not [r for r in sandbox.state.requests_log() if r["path"].endswith("/oauth/token")]


def test_a_missing_state_gets_403(marketer, sandbox, pinterest_account):
    back = press(start_connect(marketer), "allow", username="acme-ads")
    code = parse_qs(urlsplit(back).query)["code"][0]

    assert marketer.get(reverse("integrations:callback"), {"code": code}).status_code == 403
    assert not PinterestConnection.objects.exists()


def test_a_state_works_once(marketer, sandbox, pinterest_account):
    back = local_path(press(start_connect(marketer), "allow", username="acme-ads"))
    assert marketer.get(back).status_code == 302

    assert marketer.get(back).status_code == 403


def test_a_state_started_by_someone_else_is_refused(client, marketer, alice, sandbox, pinterest_account, acme):
    from integrations.services.workspaces import user_create_marketer

    back = local_path(press(start_connect(marketer), "allow", username="acme-ads"))
    bob = user_create_marketer(workspace=acme, username="bob", password="bob-password-1")
    client.force_login(bob)  # same browser session key is replaced: bob has no pending state

    assert client.get(back).status_code == 403
    assert not PinterestConnection.objects.exists()


def test_connecting_needs_the_advertising_terms_ticked(marketer, sandbox):
    response = marketer.post(reverse("integrations:connect", args=["acme"]), {})

    assert response.status_code == 302 and response["Location"] == PARTNER
    assert any("advertising terms" in text for text in message_texts(response))


def test_a_refused_code_shows_pinterests_reason_and_stores_nothing(marketer, sandbox, pinterest_account):
    authorize = start_connect(marketer)
    state = parse_qs(urlsplit(authorize).query)["state"][0]

    response = marketer.get(reverse("integrations:callback"), {"code": "made-up-code", "state": state})

    assert response.status_code == 302 and response["Location"] == PARTNER
    assert any("Pinterest refused the connection" in text for text in message_texts(response))
    assert not PinterestConnection.objects.exists()


# --- Who may see the page -------------------------------------------------------------------


def test_signing_in_is_required(client, acme):
    response = client.get(PARTNER)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_another_workspace_answers_404(client, charlie, acme):
    client.force_login(charlie)
    assert client.get(PARTNER).status_code == 404
    assert client.post(reverse("integrations:connect", args=["acme"]), {"accept_terms": "1"}).status_code == 404
    assert client.post(reverse("integrations:disconnect", args=["acme"])).status_code == 404
    assert client.post(reverse("integrations:ad_accounts", args=["acme"])).status_code == 404


def test_charlie_cannot_bring_a_connection_into_acme(client, marketer, charlie, sandbox, pinterest_account):
    back = local_path(press(start_connect(marketer), "allow", username="acme-ads"))  # alice's state, alice's session
    client.force_login(charlie)

    assert client.get(back).status_code == 403
    assert not PinterestConnection.objects.exists()


def test_a_superuser_sees_every_workspace(client, superuser, acme):
    client.force_login(superuser)
    assert client.get(PARTNER).status_code == 200


def test_an_invalid_connection_says_why_and_what_to_do(marketer, connection):
    from integrations.services.connections import connection_mark_invalid

    connection_mark_invalid(connection=connection, reason="Pinterest refused the token (Authentication failed.).")

    page = marketer.get(PARTNER).content.decode()

    assert "Needs reconnecting" in page
    assert "Pinterest refused the token (Authentication failed.)." in page
    assert "Reconnect" in page and "pending" in page


def test_ad_accounts_of_another_workspace_cannot_be_enabled(marketer, connection):
    marketer.post(reverse("integrations:ad_accounts", args=["acme"]), {"ad_account": ["999999", "888888"]})

    assert not connection.ad_accounts.filter(enabled=True).exists()
