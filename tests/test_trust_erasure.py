"""Erasing a user: removed at Pinterest from every list, then nothing about them remains but counts."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from audiences import services
from audiences.metrics import step_metrics
from audiences.models import (
    Audience,
    AudienceMember,
    AuditEvent,
    DelayRecord,
    PrivacyRequest,
    SendLog,
    SyncRecord,
)
from audiences.sending.pump import send_due_now
from integrations.services.connections import connection_disconnect
from tests.api_support import acme_api, globex_api  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def list_records(sandbox, audience_id: int) -> set[str]:
    list_id = Audience.objects.get(pk=audience_id).lists.get().pinterest_customer_list_id
    return sandbox.state.customer_list_records(list_id)


def nothing_about(external_id: str) -> bool:
    return not (SyncRecord.objects.filter(external_id=external_id).exists()
                or DelayRecord.objects.filter(external_id=external_id).exists()
                or AudienceMember.objects.filter(external_id=external_id).exists()
                or PrivacyRequest.objects.filter(external_id=external_id).exists()
                or AuditEvent.objects.filter(target__contains=external_id).exists())


@pytest.fixture
def two_audiences(sandbox, acme, ad_account, add_canvas):
    """user-0..2 in two audiences (email and IDFA), and user-1 waiting in a delay of a third canvas."""
    other = services.canvas_create(workspace=acme, name="Second")
    second = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Second audience")
    services.step_create_audience_sync(canvas=other, ad_account=ad_account, audience=second,
                                       match_fields=("email", "ios_idfa"))
    services.canvas_launch(canvas=other)
    waiting = services.canvas_create(workspace=acme, name="Later")
    services.step_create_delay(canvas=waiting, seconds=3600)
    services.step_create_audience_sync(canvas=waiting, ad_account=ad_account, audience=second)
    services.canvas_launch(canvas=waiting)
    services.users_enter(canvas=add_canvas, users=make_users(3))
    services.users_enter(canvas=other, users=make_users(3, idfa=True))
    services.users_enter(canvas=waiting, users=make_users(1, start=1))
    send_due_now()
    return add_canvas.steps.get().audience_id, second.pk, other


def test_an_erased_user_is_removed_everywhere_and_only_counts_remain(sandbox, acme, two_audiences):
    first, second, other = two_audiences
    idfa = sha256("00000001-AAAA-BBBB-CCCC-DDDDEEEEFFFF")
    assert sha256("user1@example.com") in list_records(sandbox, first)
    assert idfa in list_records(sandbox, second)
    before = step_metrics(other.steps.get())

    erasure = services.erasure_request(workspace=acme, external_id="user-1")
    assert erasure.status == "pending"
    assert services.privacy_requests_process() == 1

    assert sha256("user1@example.com") not in list_records(sandbox, first)
    assert not {sha256("user1@example.com"), idfa} & list_records(sandbox, second)
    assert sha256("user0@example.com") in list_records(sandbox, first)
    assert nothing_about("user-1")
    erasure.refresh_from_db()
    assert erasure.status == "done" and erasure.done_at is not None and erasure.external_id == ""
    assert erasure.removed["audiences"] == 2 and erasure.removed["identifiers_removed"] == 3
    assert erasure.removed["sync_records_deleted"] == 2 and erasure.removed["delay_records_deleted"] == 1
    assert step_metrics(other.steps.get()) == before  # the figures keep the user as a count


def test_an_erasure_survives_pinterest_being_unreachable_and_retries(sandbox, acme, connection, two_audiences):
    first, _, _ = two_audiences
    connection_disconnect(connection=connection)
    erasure = services.erasure_request(workspace=acme, external_id="user-2")
    assert services.privacy_requests_process() == 0
    erasure.refresh_from_db()
    assert erasure.status == "pending" and erasure.attempts == 1 and erasure.last_error
    assert SyncRecord.objects.filter(external_id="user-2").exists()  # nothing deleted before Pinterest agreed

    from integrations.pinterest.client import TokenSet
    from integrations.services.connections import connection_connect
    user = next(iter(sandbox.state.users.values()))
    tokens = sandbox.state.issue_tokens(user.id)
    connection_connect(workspace=acme, tokens=TokenSet(
        access_token=tokens["access_token"], refresh_token=tokens["refresh_token"], expires_in=None,
        refresh_token_expires_in=None, scope=tokens.get("scope", "")))
    PrivacyRequest.objects.filter(pk=erasure.pk).update(next_attempt_at=erasure.requested_at)  # its backoff is over
    assert services.privacy_requests_process() == 1
    assert sha256("user2@example.com") not in list_records(sandbox, first)
    assert nothing_about("user-2")


def test_erasing_a_user_with_a_waiting_add_drops_it(sandbox, acme, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(2))
    services.erasure_request(workspace=acme, external_id="user-0")
    services.privacy_requests_process()
    send_due_now()
    step = add_canvas.steps.get()
    assert sha256("user0@example.com") not in list_records(sandbox, step.audience_id)
    numbers = step_metrics(step)
    assert (numbers.entered, numbers.synced, numbers.not_synced, numbers.pending) == (2, 1, 1, 0)
    assert nothing_about("user-0")


def test_the_api_erases_and_reports(sandbox, acme_api, globex_api, two_audiences):
    response = acme_api.delete("/api/v1/users/user-0/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "pending" and body["kind"] == "erase"
    assert acme_api.delete("/api/v1/users/user-0/").json()["id"] == body["id"]  # the same erasure
    services.privacy_requests_process()
    done = acme_api.get(f"/api/v1/privacy-requests/{body['id']}/").json()
    assert done["status"] == "done" and done["removed"]["audiences"] == 2
    assert globex_api.get(f"/api/v1/privacy-requests/{body['id']}/").status_code == 404
    assert globex_api.delete("/api/v1/users/user-1/").status_code == 404  # nothing of globex's
    assert acme_api.delete("/api/v1/users/nobody/").status_code == 404
    assert nothing_about("user-0")


def test_the_admin_and_the_command_erase(sandbox, client, alice, acme, two_audiences):
    client.force_login(alice)
    url = reverse("admin:audiences_user_erase")
    assert client.get(url).status_code == 200
    assert client.post(url, {"workspace": acme.pk, "external_id": "user-0"}).status_code == 302
    assert PrivacyRequest.objects.filter(status="pending").count() == 1
    listing = client.get(reverse("admin:audiences_privacyrequest_changelist"))
    assert listing.status_code == 200

    out = StringIO()
    call_command("erase_user", "--workspace", "acme", "user-2", stdout=out)
    assert "done" in out.getvalue()
    assert nothing_about("user-2")
    assert SendLog.objects.filter(operation="REMOVE", outcome="ok").exists()


def test_an_erasure_whose_worker_died_is_taken_up_again(sandbox, acme, two_audiences):
    from datetime import timedelta

    from django.utils import timezone

    first, _, _ = two_audiences
    erasure = services.erasure_request(workspace=acme, external_id="user-0")
    claimed_until = timezone.now() + timedelta(seconds=120)
    PrivacyRequest.objects.filter(pk=erasure.pk).update(next_attempt_at=claimed_until)  # a worker took it, then died
    assert services.privacy_requests_process() == 0  # its claim still holds
    assert services.privacy_requests_process(now=claimed_until + timedelta(seconds=1)) == 1
    assert sha256("user0@example.com") not in list_records(sandbox, first)
    assert nothing_about("user-0")
