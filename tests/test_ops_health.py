"""/healthz and `sync_status` say whether the service can do its job: database, broker, sender, oldest due record."""

import json
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from audiences import leases, services
from audiences.sending.pump import send_due_now
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def healthz():
    response = Client().get("/healthz")
    return response.status_code, response.json()


def test_it_is_healthy_with_nothing_to_send(add_canvas):
    status, body = healthz()
    assert status == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "sender", "oldest_due", "retention"}
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert body["checks"]["oldest_due"]["age_seconds"] == 0


def test_it_turns_503_when_users_wait_and_no_sender_is_alive(add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(20))
    # Just entered: a sender has the grace of a watchdog round to start.
    assert healthz()[0] == 200

    with time_machine.travel(timezone.now() + timedelta(seconds=120), tick=True):
        status, body = healthz()
        assert status == 503
        assert body["status"] == "fail"
        assert body["checks"]["sender"] == {"status": "fail", "pumps_alive": 0, "pumps": 1, "due_lists": 1}
        assert body["checks"]["oldest_due"]["age_seconds"] >= 120
        assert body["checks"]["database"]["status"] == "ok"

        # A live sender (one holding its pump slot) makes the service able to do its job again.
        assert leases.acquire("pump:0", "a-live-pump", seconds=30)
        status, body = healthz()
        assert status == 200, body
        assert body["checks"]["sender"]["pumps_alive"] == 1


def test_it_turns_503_when_the_oldest_due_user_waited_too_long_even_with_a_sender(add_canvas, settings):
    settings.HEALTH_MAX_DUE_AGE_SECONDS = 60
    services.users_enter(canvas=add_canvas, users=make_users(5))
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
        leases.acquire("pump:0", "a-stuck-pump", seconds=30)
        status, body = healthz()
    assert status == 503
    assert body["checks"]["sender"]["status"] == "ok"
    assert body["checks"]["oldest_due"]["status"] == "fail"


def test_users_held_by_a_revoked_token_do_not_make_the_service_unhealthy(add_canvas, connection):
    services.users_enter(canvas=add_canvas, users=make_users(5))
    connection.status = connection.Status.INVALID
    connection.save(update_fields=["status"])  # the workspace must reconnect; this service can do nothing
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=True):
        status, body = healthz()
    assert status == 200, body
    assert body["checks"]["sender"]["due_lists"] == 0


def test_it_is_healthy_again_once_the_backlog_is_sent(add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(20))
    send_due_now()
    with time_machine.travel(timezone.now() + timedelta(seconds=120), tick=True):
        assert healthz()[0] == 200


def test_it_turns_503_when_the_broker_is_gone(add_canvas, settings):
    # Redis as the broker, at an address where nothing answers.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": "redis://127.0.0.1:9/8"}
    status, body = healthz()
    assert status == 503
    assert body["checks"]["broker"]["status"] == "fail"
    assert body["checks"]["broker"]["broker"] == "redis"
    assert body["checks"]["database"]["status"] == "ok"


def test_it_answers_over_plain_http_in_production(add_canvas, settings):
    # A load balancer probes inside the network without TLS: no redirect to HTTPS.
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/admin/").status_code == 301


def test_sync_status_says_the_same_for_staff(add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(3))
    with time_machine.travel(timezone.now() + timedelta(seconds=120), tick=True):
        out = StringIO()
        call_command("sync_status", "--json", stdout=out)
        report = json.loads(out.getvalue())
        answered = healthz()[1]
        assert {n: c["status"] for n, c in report["health"]["checks"].items()} == {
            n: c["status"] for n, c in answered["checks"].items()
        }
        assert report["health"]["status"] == answered["status"] == "fail"
        assert report["health"]["checks"]["sender"]["status"] == "fail"
        assert [(r["workspace"], r["pending"]) for r in report["steps"]] == [("acme", 3)]

        text = StringIO()
        call_command("sync_status", stdout=text)
        assert "Health: FAIL" in text.getvalue()
        assert "sender" in text.getvalue()
        with pytest.raises(CommandError, match="unhealthy: sender$"):
            call_command("sync_status", "--check", stdout=StringIO())

    call_command("sync_status", "--check", stdout=StringIO())  # healthy: no error
