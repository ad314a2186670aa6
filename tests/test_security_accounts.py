"""Nobody can sign up, and the sign-in pages never tell whether an account exists.

Staff create accounts (the admin, user_create_marketer). The sign-up page
answers 404, no page offers it, and password reset and failed sign-ins read
the same for a staff email and an unknown one.
"""

from __future__ import annotations

import re

import pytest
from allauth.account.adapter import get_adapter
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import RequestFactory

pytestmark = pytest.mark.django_db


def visible_text(response) -> str:
    """The page's text without tags, tokens and whitespace differences."""
    page = response.content.decode()
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)
    page = re.sub(r"<[^>]+>", " ", page)
    return " ".join(page.split())


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_sign_up_page_answers_404_and_creates_nobody(client, alice, method):
    data = {"email": "mallory@example.test", "username": "mallory", "password1": "a-long-password-1",
            "password2": "a-long-password-1"}

    response = getattr(client, method)("/accounts/signup/", data)

    assert response.status_code == 404
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_the_adapter_is_closed_for_sign_up():
    assert get_adapter().is_open_for_signup(RequestFactory().get("/")) is False


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/password/reset/", "/admin/login/?next=/admin/"])
def test_no_sign_in_page_offers_sign_up(client, path):
    response = client.get(path, follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "/accounts/signup/" not in page
    assert "sign up" not in page.lower() and "signup" not in page.lower()


def test_password_reset_reads_the_same_for_a_staff_email_and_an_unknown_one(client, alice, monkeypatch,
                                                                            django_capture_on_commit_callbacks):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # the mail is sent by a task: run it at once
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/accounts/password/reset/", {"email": "alice@acme.test"}, follow=True)
    with django_capture_on_commit_callbacks(execute=True):
        unknown = client.post("/accounts/password/reset/", {"email": "nobody-here@acme.test"}, follow=True)

    assert known.redirect_chain == unknown.redirect_chain == [("/accounts/password/reset/done/", 302)]
    assert visible_text(known) == visible_text(unknown)
    assert "alice@acme.test" not in known.content.decode()
    # Only the account's owner hears of it; the unknown address gets no mail at all.
    assert [message.to for message in mail.outbox] == [["alice@acme.test"]]


def test_a_failed_sign_in_reads_the_same_for_a_staff_user_and_an_unknown_one(client, alice):
    known = client.post("/accounts/login/", {"login": "alice", "password": "wrong-password"})
    unknown = client.post("/accounts/login/", {"login": "nobody-here", "password": "wrong-password"})
    known_email = client.post("/accounts/login/", {"login": "alice@acme.test", "password": "wrong-password"})

    assert known.status_code == unknown.status_code == known_email.status_code == 200
    assert visible_text(known).replace("alice", "") == visible_text(unknown).replace("nobody-here", "")
    assert "not correct" in visible_text(known)
