"""Partners create, rename, launch, stop and delete canvases through the API."""

import pytest

from audiences import services
from audiences.models import Canvas
from tests.api_support import _fresh_throttle_counts, acme_api, error_of  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def test_it_creates_lists_and_reads_canvases(acme_api):
    created = acme_api.post("/api/v1/canvases/", {"name": "  Welcome series "}, format="json")
    assert created.status_code == 201
    canvas = created.json()
    assert canvas["name"] == "Welcome series"
    assert canvas["status"] == "draft"
    assert canvas["steps"] == []

    acme_api.post("/api/v1/canvases/", {"name": "Win-back"}, format="json")
    listed = acme_api.get("/api/v1/canvases/").json()
    assert [c["name"] for c in listed["results"]] == ["Win-back", "Welcome series"]  # newest first
    assert acme_api.get(f"/api/v1/canvases/{canvas['id']}/").json()["name"] == "Welcome series"
    assert [c["name"] for c in acme_api.get("/api/v1/canvases/?status=draft").json()["results"]] == [
        "Win-back", "Welcome series"]
    assert acme_api.get("/api/v1/canvases/?status=active").json()["results"] == []


def test_it_pages_canvases_with_a_cursor(acme_api, acme):
    for i in range(5):
        services.canvas_create(workspace=acme, name=f"Canvas {i}")
    first = acme_api.get("/api/v1/canvases/?page_size=2").json()
    assert [c["name"] for c in first["results"]] == ["Canvas 4", "Canvas 3"]
    second = acme_api.get("/api/v1/canvases/", {"page_size": 2, "cursor": first["next_cursor"]}).json()
    assert [c["name"] for c in second["results"]] == ["Canvas 2", "Canvas 1"]
    bad = acme_api.get("/api/v1/canvases/?cursor=garbage")
    assert bad.status_code == 400
    assert error_of(bad)["details"]["fields"]["cursor"]


def test_it_refuses_a_canvas_without_a_name_or_with_unknown_fields(acme_api):
    response = acme_api.post("/api/v1/canvases/", {"name": "   "}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["details"]["fields"]["name"]
    assert error["message"].startswith("name: ")

    response = acme_api.post("/api/v1/canvases/", {"name": "Ok", "colour": "red"}, format="json")
    assert response.status_code == 400
    assert "colour" in error_of(response)["details"]["fields"]

    response = acme_api.post("/api/v1/canvases/", {"name": 12}, format="json")
    assert response.status_code == 400
    assert not Canvas.objects.exists()


def test_it_renames_a_canvas(acme_api, acme):
    canvas = services.canvas_create(workspace=acme, name="Old")
    response = acme_api.patch(f"/api/v1/canvases/{canvas.pk}/", {"name": "New"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "New"
    canvas.refresh_from_db()
    assert canvas.name == "New"


def test_a_refused_launch_lists_every_problem(acme_api, acme):
    canvas = services.canvas_create(workspace=acme, name="Empty")
    response = acme_api.post(f"/api/v1/canvases/{canvas.pk}/launch/")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "launch_refused"
    assert error["details"]["problems"] == [
        "The canvas has no steps.",
        "The workspace has no valid Pinterest connection: connect Pinterest first.",
    ]
    for problem in error["details"]["problems"]:
        assert problem in error["message"]
    canvas.refresh_from_db()
    assert canvas.status == Canvas.Status.DRAFT


def test_it_launches_and_stops_a_canvas(acme_api, add_canvas):
    services.canvas_stop(canvas=add_canvas)
    launched = acme_api.post(f"/api/v1/canvases/{add_canvas.pk}/launch/")
    assert launched.status_code == 200
    assert launched.json()["status"] == "active"
    assert launched.json()["launched_at"]

    stopped = acme_api.post(f"/api/v1/canvases/{add_canvas.pk}/stop/")
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopped"
    entries = acme_api.post(f"/api/v1/canvases/{add_canvas.pk}/entries/", {"users": make_users(1)}, format="json")
    assert entries.status_code == 409
    assert "launch it" in error_of(entries)["message"]


def test_an_active_canvas_cannot_be_deleted(acme_api, add_canvas):
    response = acme_api.delete(f"/api/v1/canvases/{add_canvas.pk}/")
    assert response.status_code == 409
    assert "Stop the canvas" in error_of(response)["message"]
    assert Canvas.objects.filter(pk=add_canvas.pk).exists()


def test_a_stopped_canvas_with_pending_users_cannot_be_deleted(acme_api, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(3))
    services.canvas_stop(canvas=add_canvas)
    response = acme_api.delete(f"/api/v1/canvases/{add_canvas.pk}/")
    assert response.status_code == 409
    assert "3 users" in error_of(response)["message"]


def test_a_draft_canvas_is_deleted(acme_api, acme):
    canvas = services.canvas_create(workspace=acme, name="Scratch")
    services.step_create_delay(canvas=canvas, seconds=60)
    assert acme_api.delete(f"/api/v1/canvases/{canvas.pk}/").status_code == 204
    assert not Canvas.objects.filter(pk=canvas.pk).exists()
    assert acme_api.get(f"/api/v1/canvases/{canvas.pk}/").status_code == 404
