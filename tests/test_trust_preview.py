"""A step's dry run: what it would do for a sample, without a single request to Pinterest."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from audiences import services
from audiences.models import SyncRecord
from audiences.sending.pump import send_due_now
from tests.api_support import acme_api, globex_api  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_it_counts_what_would_happen_and_makes_no_request(settings, sandbox, acme, add_canvas):
    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(2))
    send_due_now()
    services.suppression_add(workspace=acme, entries=[{"email": "user3@example.com"}])
    requests_before = len(sandbox.state.requests_log())
    records_before = SyncRecord.objects.count()

    preview = services.step_preview(step=step, users=make_users(6) + [{"external_id": "no-email"}], volume=19_000)

    assert len(sandbox.state.requests_log()) == requests_before
    assert SyncRecord.objects.count() == records_before
    assert (preview.users, preview.would_sync, preview.no_match_fields, preview.suppressed,
            preview.already_in_audience) == (7, 3, 1, 1, 2)
    assert preview.sample[0] == {"external_id": "user-2", "email": sha256("user2@example.com")}
    # 3 of 7 users carry one email each: 19,000 users are ~8,143 identifiers, 5 requests of 1,900, at 7/s.
    assert preview.requests == 5 and preview.seconds == round(5 / settings.SYNC_RATE_LIMIT_PER_SECOND, 2)


def test_the_api_previews_a_step_of_its_workspace_only(sandbox, acme_api, globex_api, add_canvas):
    step = add_canvas.steps.get()
    url = f"/api/v1/steps/{step.pk}/preview/"
    response = acme_api.post(url, {"users": make_users(3)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["would_sync"] == 3 and response.json()["requests"] == 1
    assert globex_api.post(url, {"users": make_users(3)}, format="json").status_code == 404
    assert acme_api.post(url, {"users": [{"email": "x@example.com"}]}, format="json").status_code == 400
    assert not SyncRecord.objects.exists()


def test_the_admin_and_the_command_preview(sandbox, client, alice, add_canvas, tmp_path):
    step = add_canvas.steps.get()
    client.force_login(alice)
    url = reverse("admin:audiences_step_preview", args=[step.pk])
    page = client.post(url, {"text": "external_id,email\na,a@example.com\nb,\n"})
    assert page.status_code == 200 and 'id="preview-result"' in page.content.decode()
    assert page.context["preview"]["would_sync"] == 1 and page.context["preview"]["no_match_fields"] == 1
    path = tmp_path / "sample.csv"
    path.write_text("external_id,email\na,a@example.com\n")
    out = StringIO()
    call_command("preview_step", "--step", step.pk, str(path), stdout=out)
    assert '"would_sync": 1' in out.getvalue()
    assert not SyncRecord.objects.exists()
