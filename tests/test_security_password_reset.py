"""Password reset answers the same, and never 500, for any address, whatever the mail server does.

The mail is sent by a django-q2 task (run inline here), so neither the
answer nor its timing depends on whether the address has an account.
"""

from __future__ import annotations

import re
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django_q.conf import Conf

pytestmark = pytest.mark.django_db


class RefusingBackend(BaseEmailBackend):
    """A mail server that cannot be reached."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPConnectError(421, "mail.acme.test refused the connection")


@pytest.fixture
def ask(client, django_capture_on_commit_callbacks):
    """Ask for a reset as a visitor would; what the request left to do once committed (the task) runs then."""

    def ask(email: str):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/accounts/password/reset/", {"email": email}, follow=True)

    return ask


@pytest.fixture
def tasks_inline(monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", True)  # tasks run at once, in this process, instead of waiting for a worker


def page_text(response) -> str:
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
    return " ".join(text.split())


def test_it_answers_the_same_for_a_known_and_an_unknown_address_when_mail_fails(ask, alice, settings, tasks_inline,
                                                                                  caplog):
    settings.EMAIL_BACKEND = "tests.test_security_password_reset.RefusingBackend"

    known = ask("alice@acme.test")
    unknown = ask("nobody-here@acme.test")

    assert known.status_code == unknown.status_code == 200
    assert known.redirect_chain == unknown.redirect_chain == [("/accounts/password/reset/done/", 302)]
    assert page_text(known) == page_text(unknown)
    assert "could not be sent" in caplog.text  # the operator hears of it, by user id
    assert "alice@acme.test" not in caplog.text


def test_it_mails_a_working_link_to_a_known_address_from_a_task(ask, client, alice, tasks_inline):
    known = ask("alice@acme.test")
    assert known.status_code == 200
    assert [message.to for message in mail.outbox] == [["alice@acme.test"]]
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body).group(1)

    form = client.get(link, follow=True)
    assert form.status_code == 200
    done = client.post(form.redirect_chain[-1][0] if form.redirect_chain else link,
                       {"password1": "a-new-password-9", "password2": "a-new-password-9"}, follow=True)
    assert done.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password("a-new-password-9")


def test_the_request_sends_nothing_itself_and_queues_no_reset_link(ask, alice, settings):
    from django_q.models import OrmQ

    if settings.REDIS_URL:
        pytest.skip("the queued task is read from the ORM broker's table")
    ask("alice@acme.test")
    assert mail.outbox == []  # a worker sends it
    (queued,) = OrmQ.objects.all()
    assert queued.func() == "integrations.tasks.password_reset_mail"
    assert "/accounts/password/reset/key/" not in repr(queued.task)
