"""Creating and deleting a canvas or a step leaves an audit event, from the admin and from the API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audiences.models import AuditEvent, Canvas
from tests.api_support import acme_api  # noqa: F401

pytestmark = pytest.mark.django_db


def events(workspace) -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.filter(workspace=workspace, action__regex=r"^(canvas|step)\.(create|delete)$")
                .order_by("id").values_list("action", "source", "actor"))


def test_the_admin_records_canvas_and_step_creation_and_deletion(client, alice, acme, connection):
    client.force_login(alice)
    client.post(reverse("admin:audiences_canvas_add"), {
        "workspace": acme.pk, "name": "Onboarding",
        "steps-TOTAL_FORMS": "2", "steps-INITIAL_FORMS": "0", "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000",
        "steps-0-kind": "audience_sync", "steps-0-name": "Add buyers", "steps-0-delay_seconds": "0",
        "steps-1-kind": "delay", "steps-1-name": "Wait a day", "steps-1-delay_seconds": "86400",
        "_continue": "1"})
    canvas = Canvas.objects.get(name="Onboarding")
    sync, delay = canvas.steps.order_by("position")

    client.post(reverse("admin:audiences_canvas_change", args=[canvas.pk]), {
        "workspace": acme.pk, "name": "Onboarding",
        "steps-TOTAL_FORMS": "2", "steps-INITIAL_FORMS": "2", "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000",
        "steps-0-id": sync.pk, "steps-0-canvas": canvas.pk, "steps-0-name": "Add buyers",
        "steps-0-delay_seconds": "0",
        "steps-1-id": delay.pk, "steps-1-canvas": canvas.pk, "steps-1-name": "Wait a day",
        "steps-1-delay_seconds": "86400", "steps-1-DELETE": "on",
        "_continue": "1"})
    assert list(canvas.steps.values_list("pk", flat=True)) == [sync.pk]
    client.post(reverse("admin:audiences_canvas_delete", args=[canvas.pk]), {"post": "yes"})
    assert not Canvas.objects.filter(pk=canvas.pk).exists()

    assert events(acme) == [
        ("canvas.create", "admin", "alice"), ("step.create", "admin", "alice"), ("step.create", "admin", "alice"),
        ("step.delete", "admin", "alice"), ("canvas.delete", "admin", "alice"),
    ]
    deleted = AuditEvent.objects.get(action="step.delete")
    assert deleted.details["step"] == delay.pk and "Onboarding" in deleted.target


def test_the_api_records_canvas_and_step_creation_and_deletion(sandbox, acme, acme_api):
    canvas = acme_api.post("/api/v1/canvases/", {"name": "Winback"}, format="json")
    assert canvas.status_code == 201, canvas.content
    canvas_id = canvas.json()["id"]
    step = acme_api.post(f"/api/v1/canvases/{canvas_id}/steps/", {"kind": "delay", "delay_seconds": 60},
                         format="json")
    assert step.status_code == 201, step.content
    assert acme_api.delete(f"/api/v1/steps/{step.json()['id']}/").status_code == 204
    assert acme_api.delete(f"/api/v1/canvases/{canvas_id}/").status_code == 204

    assert [(action, source) for action, source, _ in events(acme)] == [
        ("canvas.create", "api"), ("step.create", "api"), ("step.delete", "api"), ("canvas.delete", "api"),
    ]
    assert AuditEvent.objects.get(action="canvas.delete").details["canvas"] == canvas_id
