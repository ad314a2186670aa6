"""A second factor: members sign in with a code from an authenticator app, and a workspace may require it.

Alice, Dora (Acme's workspace admin) and Mark (a marketer) work in Acme;
Charlie works in Globex, which requires nothing. Codes are computed here from the test's own
clock with RFC 6238 (TOTP: HMAC-SHA1, 30-second steps, 6 digits), the way an
authenticator app computes them from the secret the set-up page shows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import os
import re
import struct
import time
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from audiences.models import AuditEvent
from integrations.services.workspaces import workspace_add_member, workspace_require_mfa
from integrations.api_keys import api_key_create
from integrations.models import Membership, Workspace
from tests.api_support import _fresh_throttle_counts, client_with_key  # noqa: F401
from tests.test_browser_journey import browser_page  # noqa: F401

pytestmark = pytest.mark.django_db

START = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
SETUP_PAGE = "/accounts/2fa/totp/activate/"


def totp(secret: str, at: float, *, step: int = 30, digits: int = 6) -> str:
    """RFC 6238 for the given Unix time (RFC 4226's dynamic truncation of HMAC-SHA1)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def test_the_totp_helper_gives_rfc_6238s_own_test_vectors():
    # RFC 6238 appendix B, SHA-1, with the secret "12345678901234567890" and 8 digits.
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp(secret, 59, digits=8) == "94287082"
    assert totp(secret, 1111111109, digits=8) == "07081804"
    assert totp(secret, 20000000000, digits=8) == "65353130"


def page_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def sign_in(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"login": username, "password": password})


def set_up_totp(client: Client, traveller, password: str) -> tuple[str, list[str]]:
    """Set up an authenticator app as a member would: confirm the password, read the secret, type a code.

    Returns the secret and the recovery codes.
    """
    page = client.get(SETUP_PAGE)
    if page.status_code == 302:
        # Changing how one signs in asks for the password again first (unless just confirmed).
        assert page["Location"].startswith("/accounts/reauthenticate/")
        confirmed = client.post(page["Location"], {"password": password})
        assert confirmed.status_code == 302 and confirmed["Location"] == SETUP_PAGE
        page = client.get(SETUP_PAGE)
    assert page.status_code == 200
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page.content.decode())
    secret = secret or re.search(r'value="([A-Z2-7]{32})"', page.content.decode())
    assert secret, "the set-up page shows the secret to type into an authenticator app"
    secret = secret.group(1)
    assert 'src="data:image/svg+xml;base64,' in page.content.decode()  # the QR code

    done = client.post(SETUP_PAGE, {"code": totp(secret, time.time())})

    assert done.status_code == 302
    codes_page = client.get(done["Location"])
    codes = re.findall(r"\b\d{8}\b", codes_page.content.decode().split('id="recovery_codes"', 1)[1].split("</textarea>")[0])
    assert len(codes) == 10, "ten recovery codes are shown once the app is set up"
    traveller.shift(31)  # the next 30-second step: a code is never taken twice
    return secret, codes


@pytest.fixture
def traveller():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def member(workspace, username: str, role: str):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, f"{username}@acme.test", f"{username}-password-1",
                                                is_staff=True)
    workspace_add_member(workspace=workspace, user=user, role=role)
    return user


@pytest.fixture
def dora(acme):
    """Acme's workspace admin."""
    return member(acme, "dora", Membership.Role.ADMIN)


@pytest.fixture
def mark(acme):
    """A marketer of Acme."""
    return member(acme, "mark", Membership.Role.MARKETER)


def test_it_signs_a_member_in_with_a_code_from_their_authenticator_app(client, alice, traveller):
    assert sign_in(client, "alice", "alice-password-1")["Location"] == "/admin/"
    secret, _ = set_up_totp(client, traveller, "alice-password-1")
    client.post("/accounts/logout/")

    after_password = sign_in(client, "alice", "alice-password-1")

    assert after_password.status_code == 302
    assert after_password["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/admin/").status_code == 302  # not signed in yet: the code is still to come
    signed_in = client.post("/accounts/2fa/authenticate/", {"code": totp(secret, time.time())})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_it_refuses_a_wrong_code_and_the_member_stays_signed_out(client, alice, traveller):
    sign_in(client, "alice", "alice-password-1")
    secret, _ = set_up_totp(client, traveller, "alice-password-1")
    client.post("/accounts/logout/")
    sign_in(client, "alice", "alice-password-1")

    right = totp(secret, time.time())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    stale = totp(secret, time.time() - 120)  # a code from two minutes ago
    for code in (wrong, stale):
        refused = client.post("/accounts/2fa/authenticate/", {"code": code})
        assert refused.status_code == 200
        assert "Incorrect code" in page_text(refused)

    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith("/admin/login/")


def test_it_takes_a_recovery_code_once(client, alice, traveller):
    sign_in(client, "alice", "alice-password-1")
    _, codes = set_up_totp(client, traveller, "alice-password-1")
    client.post("/accounts/logout/")

    sign_in(client, "alice", "alice-password-1")
    first = client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert first.status_code == 302 and first["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    client.post("/accounts/logout/")

    sign_in(client, "alice", "alice-password-1")
    again = client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert again.status_code == 200 and "Incorrect code" in page_text(again)
    assert client.get("/admin/").status_code == 302
    another = client.post("/accounts/2fa/authenticate/", {"code": codes[1]})
    assert another.status_code == 302 and another["Location"] == "/admin/"


def test_it_shows_the_recovery_codes_only_once(client, alice, traveller):
    sign_in(client, "alice", "alice-password-1")
    _, codes = set_up_totp(client, traveller, "alice-password-1")

    later = client.get("/accounts/2fa/recovery-codes/")

    assert later.status_code == 200
    assert not any(code in later.content.decode() for code in codes)


def test_a_workspace_that_requires_it_sends_a_member_without_it_to_set_it_up_first(client, alice, traveller):
    acme = Workspace.objects.get(slug="acme")
    workspace_require_mfa(workspace=acme, required=True)

    after_password = sign_in(client, "alice", "alice-password-1")
    assert after_password["Location"] == "/admin/"
    for path in ["/admin/", "/admin/audiences/canvas/", "/admin/integrations/apikey/", "/pinterest/acme/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == SETUP_PAGE, path

    why = "The workspace Acme requires two-factor authentication of every member: set up an authenticator app " \
          "before you continue."
    confirm_password = client.get(SETUP_PAGE, follow=True)
    assert confirm_password.redirect_chain[-1][0].startswith("/accounts/reauthenticate/")
    assert why in page_text(confirm_password)
    client.post(confirm_password.redirect_chain[-1][0], {"password": "alice-password-1"})
    assert why in page_text(client.get(SETUP_PAGE))
    # Signing out is still possible.
    assert client.get("/accounts/logout/").status_code == 200

    set_up_totp(client, traveller, "alice-password-1")

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/audiences/canvas/").status_code == 200


def test_the_requirement_asks_for_the_code_at_the_next_sign_in(client, alice, traveller):
    workspace_require_mfa(workspace=Workspace.objects.get(slug="acme"), required=True)
    sign_in(client, "alice", "alice-password-1")
    secret, _ = set_up_totp(client, traveller, "alice-password-1")
    client.post("/accounts/logout/")

    assert sign_in(client, "alice", "alice-password-1")["Location"] == "/accounts/2fa/authenticate/"
    client.post("/accounts/2fa/authenticate/", {"code": totp(secret, time.time())})

    assert client.get("/admin/audiences/canvas/").status_code == 200


def test_members_of_a_workspace_without_the_requirement_are_not_sent_anywhere(client, alice, charlie, traveller):
    workspace_require_mfa(workspace=Workspace.objects.get(slug="acme"), required=True)

    sign_in(client, "charlie", "charlie-password-1")

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/audiences/canvas/").status_code == 200
    assert "requires two-factor" not in page_text(client.get("/accounts/2fa/"))


def test_the_api_with_a_key_is_not_affected(alice, traveller):
    acme = Workspace.objects.get(slug="acme")
    workspace_require_mfa(workspace=acme, required=True)
    _, plaintext = api_key_create(workspace=acme, name="crm")

    assert client_with_key(plaintext).get("/api/v1/canvases/").status_code == 200

    # Nor a call that also carries the session of a member who has no second factor yet.
    browser = Client()
    sign_in(browser, "alice", "alice-password-1")
    assert browser.get("/admin/").status_code == 302
    response = browser.get("/api/v1/canvases/", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_a_workspace_admin_requires_it_and_the_audit_log_says_who(client, alice, dora, traveller):
    acme = Workspace.objects.get(slug="acme")
    sign_in(client, "dora", "dora-password-1")
    page = client.get(f"/admin/integrations/workspace/{acme.pk}/two-factor/")
    assert page.status_code == 200
    assert "Acme does not require two-factor authentication" in page_text(page)
    assert 'name="require_mfa"' in page.content.decode()

    saved = client.post(f"/admin/integrations/workspace/{acme.pk}/two-factor/", {"require_mfa": "on"}, follow=True)

    assert "Acme now requires two-factor authentication" in page_text(saved)
    acme.refresh_from_db()
    assert acme.require_mfa is True
    event = AuditEvent.objects.get(workspace=acme, action="workspace.require_mfa")
    assert (event.actor, event.source, event.details) == ("dora", AuditEvent.Source.ADMIN, {"require_mfa": True})
    # Dora herself has no authenticator app yet: from now on she too is sent to set one up.
    assert client.get("/admin/")["Location"] == SETUP_PAGE


def test_a_marketer_cannot_turn_the_requirement_on(client, mark, dora, traveller):
    acme = Workspace.objects.get(slug="acme")
    sign_in(client, "mark", "mark-password-1")

    page = client.get(f"/admin/integrations/workspace/{acme.pk}/two-factor/")
    assert page.status_code == 200
    assert 'name="require_mfa"' not in page.content.decode()
    assert "Only a workspace admin can change this." in page_text(page)

    refused = client.post(f"/admin/integrations/workspace/{acme.pk}/two-factor/", {"require_mfa": "on"})

    assert refused.status_code == 403
    acme.refresh_from_db()
    assert acme.require_mfa is False
    assert not AuditEvent.objects.filter(workspace=acme, action__contains="mfa").exists()
    assert client.get("/admin/").status_code == 200


def test_another_workspaces_page_answers_404(client, charlie, acme, traveller):
    sign_in(client, "charlie", "charlie-password-1")

    assert client.get(f"/admin/integrations/workspace/{acme.pk}/two-factor/").status_code == 404
    assert client.post(f"/admin/integrations/workspace/{acme.pk}/two-factor/", {"require_mfa": "on"}).status_code == 404
    acme.refresh_from_db()
    assert acme.require_mfa is False


def test_the_admin_header_links_to_the_two_factor_page(client, mark, dora, traveller):
    sign_in(client, "dora", "dora-password-1")

    admin = client.get("/admin/")
    assert '<a href="/accounts/2fa/" class="mfa-link">Two-factor authentication</a>' in admin.content.decode()
    mfa_page = client.get("/accounts/2fa/")
    assert mfa_page.status_code == 200
    # Members find their workspace's requirement from there; the workspace admin may change it.
    acme = Workspace.objects.get(slug="acme")
    assert f'href="/admin/integrations/workspace/{acme.pk}/two-factor/"' in mfa_page.content.decode()
    assert "Acme : does not require it of members (you may change this)" in page_text(mfa_page)
    client.post("/accounts/logout/")
    sign_in(client, "mark", "mark-password-1")
    marketers_page = client.get("/accounts/2fa/")
    assert f'href="/admin/integrations/workspace/{acme.pk}/two-factor/"' in marketers_page.content.decode()
    assert "Acme : does not require it of members" in page_text(marketers_page)
    assert "you may change this" not in page_text(marketers_page)


def test_a_superuser_changes_it_from_the_workspace_list_and_the_form_does_not_write_it(client, superuser, acme, traveller):
    sign_in(client, "root", "root-password-1")
    listing = client.get("/admin/integrations/workspace/")
    assert f'href="/admin/integrations/workspace/{acme.pk}/two-factor/" class="workspace-mfa">Not required' \
        in listing.content.decode()
    change_form = client.get(f"/admin/integrations/workspace/{acme.pk}/change/")
    assert 'name="require_mfa"' not in change_form.content.decode()

    client.post(f"/admin/integrations/workspace/{acme.pk}/two-factor/", {"require_mfa": "on"})
    acme.refresh_from_db()
    assert acme.require_mfa is True
    # Turning it off is recorded too; saving the value it already has records nothing.
    client.post(f"/admin/integrations/workspace/{acme.pk}/two-factor/", {})
    client.post(f"/admin/integrations/workspace/{acme.pk}/two-factor/", {})
    actions = list(AuditEvent.objects.filter(workspace=acme).order_by("id").values_list("action", flat=True))
    assert actions == ["workspace.require_mfa", "workspace.stop_requiring_mfa"]


def test_it_keeps_the_secret_encrypted_and_rotate_token_key_re_encrypts_it(client, alice, traveller, settings):
    from allauth.mfa.models import Authenticator
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from integrations import crypto

    sign_in(client, "alice", "alice-password-1")
    secret, codes = set_up_totp(client, traveller, "alice-password-1")
    client.post("/accounts/logout/")
    stored = " ".join(str(data) for data in Authenticator.objects.values_list("data", flat=True))
    assert secret not in stored and not any(code in stored for code in codes)

    newest = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [newest, crypto.derived_default_key()]
    call_command("rotate_token_key", stdout=open("/dev/null", "w"))
    settings.TOKEN_ENCRYPTION_KEYS = [newest]  # the old key is gone

    sign_in(client, "alice", "alice-password-1")
    signed_in = client.post("/accounts/2fa/authenticate/", {"code": totp(secret, time.time())})
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    client.post("/accounts/logout/")
    sign_in(client, "alice", "alice-password-1")
    assert client.post("/accounts/2fa/authenticate/", {"code": codes[0]})["Location"] == "/admin/"


def test_the_admin_never_shows_a_members_secret(client, alice, superuser, traveller):
    from allauth.mfa.models import Authenticator

    sign_in(client, "alice", "alice-password-1")
    secret, _ = set_up_totp(client, traveller, "alice-password-1")
    client.post("/accounts/logout/")
    sign_in(client, "root", "root-password-1")

    listing = client.get("/admin/mfa/authenticator/")
    assert listing.status_code == 200 and "alice" in page_text(listing)
    for authenticator in Authenticator.objects.filter(user=alice):
        page = client.get(f"/admin/mfa/authenticator/{authenticator.pk}/change/")
        assert page.status_code == 200
        assert secret not in page.content.decode()
        assert str(authenticator.data.get("secret") or authenticator.data.get("seed")) not in page.content.decode()


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="Chromium is not installed (apt-get install chromium)")
def test_it_sets_up_two_factor_in_a_real_browser_under_the_content_security_policy(transactional_db, live_server,
                                                                                    alice, browser_page):
    workspace_require_mfa(workspace=Workspace.objects.get(slug="acme"), required=True)
    page, base = browser_page, live_server.url

    page.goto(f"{base}/admin/")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "alice-password-1")
    page.click("button[type=submit]")
    # Sent to set up two-factor authentication, which first asks for the password again.
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    assert "The workspace Acme requires two-factor authentication" in page.inner_text("main")
    page.fill("input[name=password]", "alice-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    assert page.eval_on_selector("img[src^='data:image/svg+xml']", "img => img.naturalWidth") > 0  # the QR code
    secret = page.input_value("#authenticator_secret")
    if time.time() % 30 > 25:  # not at the end of a 30-second step, so the code is still current when it arrives
        time.sleep(30 - time.time() % 30 + 0.5)
    page.fill("input[name=code]", totp(secret, time.time()))
    page.click("form[action='/accounts/2fa/totp/activate/'] button[type=submit]")
    page.wait_for_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    assert len(re.findall(r"\b\d{8}\b", page.input_value("#recovery_codes"))) == 10

    page.goto(f"{base}/admin/")
    assert page.url == f"{base}/admin/"
    assert page.locator("a.mfa-link").text_content() == "Two-factor authentication"
    assert page.csp_violations == []
