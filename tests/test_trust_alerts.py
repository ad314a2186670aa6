"""Alerts: once per incident and once when resolved, by email and by a signed webhook, retried with backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audiences import services
from audiences.models import AlertDelivery, Incident
from integrations.models import Membership
from integrations.pinterest.client import TokenSet
from integrations.services.connections import connection_connect, connection_mark_invalid
from tests.api_support import acme_api, globex_api  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


class Receiver:
    """A local webhook receiver: records each call; answers `fail` 500s first."""

    def __init__(self):
        self.calls: list[dict] = []
        self.fail = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"headers": dict(self.headers), "body": body})
                status = 500 if receiver.fail > 0 else 204
                receiver.fail -= 1
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, secret: str) -> list[dict]:
        found = []
        for call in self.calls:
            timestamp = call["headers"]["X-Alert-Timestamp"]
            expected = hmac.new(secret.encode(), timestamp.encode() + b"." + call["body"], hashlib.sha256).hexdigest()
            assert call["headers"]["X-Alert-Signature"] == f"sha256={expected}"
            found.append(json.loads(call["body"]))
        return found


@pytest.fixture
def receiver(settings):
    settings.ALERT_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # webhooks may call no inside address unless allowed
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def acme_admin(acme, alice):
    alice.email = "alice@acme.test"
    alice.save()
    Membership.objects.filter(workspace=acme, user=alice).update(role=Membership.Role.ADMIN)
    return alice


def reconnect(sandbox, acme):
    user = next(iter(sandbox.state.users.values()))
    tokens = sandbox.state.issue_tokens(user.id)
    connection_connect(workspace=acme, tokens=TokenSet(
        access_token=tokens["access_token"], refresh_token=tokens["refresh_token"], expires_in=None,
        refresh_token_expires_in=None, scope=tokens.get("scope", "")))


def test_an_invalid_connection_alerts_once_and_again_when_resolved(sandbox, acme, acme_admin, connection, receiver):
    settings = services.alert_settings_update(workspace=acme, webhook_url=receiver.url)
    assert settings.webhook_secret

    connection_mark_invalid(connection=connection, reason="Pinterest refused the token.")
    assert services.alerts_check() == (1, 0)
    assert services.alerts_check() == (0, 0)  # still the same incident: nobody is told twice
    assert [e["event"] for e in receiver.events(settings.webhook_secret)] == ["opened"]
    assert [m.to for m in mail.outbox] == [["alice@acme.test"]]
    assert "connection" in mail.outbox[0].subject.lower()

    reconnect(sandbox, acme)
    assert services.alerts_check() == (0, 1)
    events = receiver.events(settings.webhook_secret)
    assert [e["event"] for e in events] == ["opened", "resolved"]
    assert events[0]["kind"] == "connection_invalid" and events[0]["workspace"] == "acme"
    assert len(mail.outbox) == 2 and "Resolved" in mail.outbox[1].subject


def test_a_failed_webhook_is_retried_with_backoff(sandbox, acme, connection, receiver):
    settings = services.alert_settings_update(workspace=acme, webhook_url=receiver.url, to_admins=False)
    receiver.fail = 1
    connection_mark_invalid(connection=connection, reason="expired")
    services.alerts_check()
    delivery = AlertDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1 and "500" in delivery.last_error
    assert services.alerts_deliver() == 0  # not due yet
    assert services.alerts_deliver(now=timezone.now() + timedelta(minutes=2)) == 1
    assert AlertDelivery.objects.get().status == "sent"
    assert len(receiver.events(settings.webhook_secret)) == 2


def test_errored_users_over_the_threshold_open_an_incident(sandbox, acme, acme_admin, add_canvas):
    services.alert_settings_update(workspace=acme, errored_threshold=3)
    services.users_enter(canvas=add_canvas, users=make_users(2))
    services.records_error_expired(now=timezone.now() + timedelta(hours=14))
    assert services.alerts_check() == (0, 0)
    services.users_enter(canvas=add_canvas, users=make_users(1, start=5))
    services.records_error_expired(now=timezone.now() + timedelta(hours=14))
    assert services.alerts_check() == (1, 0)
    assert Incident.objects.get().kind == "step_errored"


def test_the_api_admin_and_command_set_who_is_told(sandbox, acme, alice, acme_api, globex_api, client):
    assert acme_api.get("/api/v1/alert-settings/").json()["to_admins"] is True  # on by default
    response = acme_api.patch("/api/v1/alert-settings/", {"emails": ["ops@acme.test"],
                                                         "webhook_url": "https://hooks.acme.test/x"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["emails"] == ["ops@acme.test"] and len(response.json()["webhook_secret"]) == 64
    assert globex_api.get("/api/v1/alert-settings/").json()["emails"] == []
    client.force_login(alice)
    assert client.get(reverse("admin:audiences_alertsettings_changelist")).status_code == 200
    out = StringIO()
    call_command("alerts", "--workspace", "acme", "--email", "night@acme.test", stdout=out)
    assert "night@acme.test" in out.getvalue()
