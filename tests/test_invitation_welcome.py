"""An invitation's link opens a welcome page: the workspace and role, a first password, and the person is signed in.

Ann is invited to Acme by Alice, its workspace admin. The link works once and
for PASSWORD_RESET_TIMEOUT; after that it says so in plain words. The last
test does it all in a real browser, the Copy button included.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audiences.models import AuditEvent
from integrations.models import Membership
from tests.browser_support import BROWSER_MARKS, browser  # noqa: F401
from tests.test_browser_marketer_small import LOW_CONTRAST


def browser_test(function):
    for mark in BROWSER_MARKS:
        function = mark(function)
    return function

REFUSED = "This invitation link no longer works"
ASK = "Ask your workspace admin for a new invitation."


def invite(client, alice, acme, email="ann@example.com", role="marketer") -> str:
    """Alice invites `email` from the admin's invitation page; the link the page shows."""
    client.force_login(alice)
    page = client.post(reverse("admin:integrations_workspace_invite", args=[acme.pk]),
                       {"email": email, "role": role}).content.decode()
    client.logout()
    return re.search(r'<code id="invite-link" class="invite-link">([^<]+)</code>', page).group(1)


def set_password(client, link: str, password: str = "ann-password-1", follow: bool = True):
    form_url = client.get(link)["Location"]  # the key goes into the session, the address bar shows no key
    return client.post(form_url, {"password1": password, "password2": password}, follow=follow)


def test_it_shows_the_link_with_a_copy_button_and_when_it_expires(client, alice, acme):
    client.force_login(alice)
    with time_machine.travel("2026-12-07 09:30:00Z", tick=False):
        page = client.post(reverse("admin:integrations_workspace_invite", args=[acme.pk]),
                           {"email": "ann@example.com", "role": "viewer"}).content.decode()

    assert re.search(r'<code id="invite-link" class="invite-link">http://testserver/accounts/welcome/\d+/\S+-\S+/</code>',
                     page)
    assert 'id="copy-invite-link"' in page and "audiences/copy_link.js" in page
    assert settings.PASSWORD_RESET_TIMEOUT == 3 * 24 * 3600  # Django's default, which the page states
    assert "The link works once, until <strong><time" in page
    assert "10 December 2026, 09:30 UTC" in page and "3\xa0days from now" in page


def test_it_welcomes_the_invited_marketer_who_sets_a_password_and_lands_signed_in(client, alice, acme):
    link = invite(client, alice, acme)

    opened = client.get(link)
    assert opened.status_code == 302 and "set-password" in opened["Location"]  # the key leaves the address bar
    welcome = client.get(opened["Location"]).content.decode()
    assert "Welcome to Acme" in welcome
    assert "You are invited to the workspace <strong>Acme</strong> as <strong>marketer</strong>." in welcome
    assert "ann@example.com" in welcome

    home = set_password(client, link)

    assert home.redirect_chain[-1][0] == reverse("admin:index")
    assert home.status_code == 200
    body = home.content.decode()
    assert "Successfully signed in as ann@example.com." in body
    assert 'id="pinterest-home"' in body and "Acme" in body
    ann = Membership.objects.get(user__email="ann@example.com").user
    assert ann.check_password("ann-password-1")
    assert client.session["_auth_user_id"] == str(ann.pk)
    assert AuditEvent.objects.filter(action="member.join", target="ann@example.com").exists()


def test_the_same_link_twice_is_refused_in_plain_words(client, alice, acme):
    link = invite(client, alice, acme)
    set_password(client, link)
    client.logout()

    again = client.get(link, follow=True)

    assert again.status_code == 200
    text = again.content.decode()
    assert REFUSED in text and ASK in text and "has expired or has already been used" in text
    assert "Welcome to Acme" not in text
    # The password chosen with it stays; the page offers to sign in with it.
    assert reverse("account_login") in text
    assert Membership.objects.get(user__email="ann@example.com").user.check_password("ann-password-1")


def test_a_second_submit_of_the_form_is_refused_too(client, alice, acme):
    link = invite(client, alice, acme)
    client.get(link)
    form_url = client.get(link)["Location"]
    client.post(form_url, {"password1": "ann-password-1", "password2": "ann-password-1"})
    client.logout()

    replay = client.post(form_url, {"password1": "other-password-2", "password2": "other-password-2"})

    assert REFUSED in replay.content.decode()
    assert Membership.objects.get(user__email="ann@example.com").user.check_password("ann-password-1")


def test_an_expired_link_is_refused_in_plain_words(client, alice, acme):
    link = invite(client, alice, acme)

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)):
        page = client.get(link, follow=True)

    text = page.content.decode()
    assert page.status_code == 200 and REFUSED in text and ASK in text
    assert not Membership.objects.get(user__email="ann@example.com").user.has_usable_password()


def test_a_shorter_timeout_is_what_the_page_states_and_what_the_link_keeps(client, alice, acme, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    client.force_login(alice)
    page = client.post(reverse("admin:integrations_workspace_invite", args=[acme.pk]),
                       {"email": "ann@example.com", "role": "marketer"}).content.decode()
    client.logout()
    assert "1\xa0hour from now" in page
    link = re.search(r'<code id="invite-link" class="invite-link">([^<]+)</code>', page).group(1)

    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        assert REFUSED in client.get(link, follow=True).content.decode()


@pytest.mark.parametrize("tamper", [
    lambda link: link[:-3] + "xx/",  # another key
    lambda link: re.sub(r"/welcome/\d+/", "/welcome/999999/", link),  # another workspace
])
def test_a_link_that_is_not_an_invitation_is_refused_the_same_way(client, alice, acme, tamper):
    link = invite(client, alice, acme)

    response = client.get(tamper(link), follow=True)

    assert response.status_code == 200 and REFUSED in response.content.decode()


def test_the_form_without_a_key_in_the_session_is_refused(client, alice, acme):
    link = invite(client, alice, acme)
    uid = re.search(r"/welcome/\d+/([0-9a-z]+)-", link).group(1)

    response = client.get(re.sub(r"/[0-9a-z]+-.+/$", f"/{uid}-set-password/", link))

    assert REFUSED in response.content.decode()


def test_a_workspace_that_requires_two_factor_sends_the_new_member_to_set_it_up(client, alice, acme):
    from integrations.services.workspaces import workspace_require_mfa

    link = invite(client, alice, acme)
    workspace_require_mfa(workspace=acme, required=True)  # after Alice's invitation: she has no app herself
    client.get(link)
    welcome = client.get(client.get(link)["Location"]).content.decode()
    assert "Acme requires two-factor authentication of every member" in welcome

    arrived = set_password(client, link)

    # Signed in, and sent to set up the app: allauth first asks for the password again, as for every member.
    assert [url for url, _ in arrived.redirect_chain][:2] == [reverse("admin:index"), reverse("mfa_activate_totp")]
    assert arrived.redirect_chain[-1][0].startswith(reverse("account_reauthenticate"))
    assert "The workspace Acme requires two-factor authentication of every member" in arrived.content.decode()
    assert client.get(reverse("admin:index"))["Location"] == reverse("mfa_activate_totp")
    # The address allauth recorded (unverified) when it made the link does not bar the app.
    client.post(arrived.redirect_chain[-1][0], {"password": "ann-password-1"})
    setup = client.get(reverse("mfa_activate_totp"))
    assert setup.status_code == 200 and 'name="code"' in setup.content.decode()


def test_a_weak_password_is_refused_with_the_reason_and_the_link_still_works(client, alice, acme):
    link = invite(client, alice, acme)

    response = set_password(client, link, password="short", follow=False)

    assert response.status_code == 200
    assert "This password is too short" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert set_password(client, link).redirect_chain[-1][0] == reverse("admin:index")


def test_someone_else_signed_in_on_the_browser_is_signed_out_first(client, alice, acme):
    link = invite(client, alice, acme)
    client.force_login(alice)

    client.get(link)
    home = set_password(client, link)

    ann = Membership.objects.get(user__email="ann@example.com").user
    assert home.redirect_chain[-1][0] == reverse("admin:index")
    assert client.session["_auth_user_id"] == str(ann.pk)


def test_marketer_create_prints_the_welcome_link_and_when_it_expires(acme, capsys):
    with time_machine.travel("2026-12-07 09:30:00Z", tick=False):
        call_command("marketer_create", "ann@example.com", workspace="acme", role="viewer")

    out = capsys.readouterr().out
    assert re.search(r"http://127\.0\.0\.1:8000/accounts/welcome/\d+/\S+-\S+/", out)
    assert "until 2026-12-10 09:30 UTC, 3\xa0days from now" in out


# --- In a real browser -------------------------------------------------------------------------------
# Chromium through Playwright, at 1280 px in the light and the dark colour scheme. Screenshots go to pytest's
# tmp dir: the invite page with its link copied, the welcome page, the admin's home, the link used again.


@pytest.mark.parametrize("scheme", ["light", "dark"])
@browser_test
def test_it_invites_copies_the_link_and_the_invited_person_arrives_signed_in(transactional_db, live_server, alice,
                                                                              browser, tmp_path, scheme):
    options = {"viewport": {"width": 1280, "height": 900}, "color_scheme": scheme}
    admin = browser.new_context(permissions=["clipboard-read", "clipboard-write"], **options)
    page = admin.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "alice-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))

    page.goto(f"{live_server.url}/admin/integrations/workspace/")
    page.click("text=Invite a marketer to this workspace")
    page.fill("#invite-email", "ann@example.com")
    page.select_option("#invite-role", "marketer")
    page.click("input[type=submit][value=Invite]")
    link = page.locator("#invite-link").inner_text().strip()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/accounts/welcome/\d+/[0-9a-z]+-\S+/", link), link
    expiry = page.locator("#invite-expiry").inner_text()
    assert re.search(r"The link works once, until \d{1,2} \w+ \d{4}, \d\d:\d\d UTC \(3\xa0days from now\)", expiry)

    page.click("#copy-invite-link")
    page.wait_for_selector("#copy-invite-status:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == link
    page.screenshot(path=str(tmp_path / f"{scheme}-invite.png"), full_page=True)
    assert page.evaluate(LOW_CONTRAST) == []
    admin.close()

    # Ann, in a browser of her own, opens the link she was sent.
    ann = browser.new_context(**options).new_page()
    ann.set_default_timeout(15_000)
    ann.goto(link)
    ann.wait_for_url(re.compile(r"-set-password/$"))
    assert ann.locator("h1").inner_text() == "Welcome to Acme"
    assert "invited to the workspace Acme as marketer" in ann.locator("#welcome-invitation").inner_text()
    ann.screenshot(path=str(tmp_path / f"{scheme}-welcome.png"), full_page=True)
    assert ann.evaluate(LOW_CONTRAST) == []
    ann.fill("input[name=password1]", "ann-password-1")
    ann.fill("input[name=password2]", "ann-password-1")
    ann.click("button[type=submit]")

    ann.wait_for_url(re.compile(r"/admin/$"))
    assert "Successfully signed in as ann@example.com." in ann.locator("ul.messagelist").inner_text()
    assert "Acme" in ann.locator("#pinterest-home").inner_text()
    ann.screenshot(path=str(tmp_path / f"{scheme}-arrived.png"), full_page=True)

    # The same link again, later: plain words, not an error.
    ann.goto(link)
    assert ann.locator("h1").inner_text() == "This invitation link no longer works"
    ann.screenshot(path=str(tmp_path / f"{scheme}-used.png"), full_page=True)
    assert ann.evaluate(LOW_CONTRAST) == []
