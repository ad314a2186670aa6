"""Tenants are walls: Charlie's key (globex) gets 404 for every acme object, and changes nothing."""

import pytest

from audiences import services
from audiences.models import Canvas, Step, SyncRecord
from tests.api_support import _fresh_throttle_counts, acme_api, error_of, globex_api  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_objects(acme, ad_account, add_canvas):
    draft = services.canvas_create(workspace=acme, name="Acme draft")
    delay = services.step_create_delay(canvas=draft, seconds=60)
    services.users_enter(canvas=add_canvas, users=make_users(5))
    return {"canvas": add_canvas, "draft": draft, "step": add_canvas.steps.get(), "delay": delay,
            "ad_account": ad_account}


def object_requests(o):
    canvas, draft, step, delay, ad_account = o["canvas"].pk, o["draft"].pk, o["step"].pk, o["delay"].pk, \
        o["ad_account"].pinterest_id
    return [
        ("get", f"/api/v1/ad-accounts/{ad_account}/audiences/", None),
        ("get", f"/api/v1/canvases/{canvas}/", None),
        ("patch", f"/api/v1/canvases/{draft}/", {"name": "Mine now"}),
        ("delete", f"/api/v1/canvases/{draft}/", None),
        ("post", f"/api/v1/canvases/{draft}/launch/", None),
        ("post", f"/api/v1/canvases/{canvas}/stop/", None),
        ("get", f"/api/v1/canvases/{canvas}/steps/", None),
        ("post", f"/api/v1/canvases/{draft}/steps/", {"kind": "delay", "delay_seconds": 5}),
        ("post", f"/api/v1/canvases/{canvas}/entries/", {"users": make_users(1, start=100)}),
        ("get", f"/api/v1/steps/{step}/", None),
        ("patch", f"/api/v1/steps/{delay}/", {"delay_seconds": 5}),
        ("delete", f"/api/v1/steps/{delay}/", None),
        ("get", f"/api/v1/steps/{step}/metrics/", None),
        ("get", f"/api/v1/steps/{step}/records/", None),
        ("post", f"/api/v1/steps/{step}/retry-errored/", None),
    ]


def test_another_workspaces_objects_answer_404(globex_api, acme_objects):
    for method, path, body in object_requests(acme_objects):
        response = getattr(globex_api, method)(path, body, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
        assert error_of(response)["code"] == "not_found"
    # ... and nothing changed.
    draft = Canvas.objects.get(pk=acme_objects["draft"].pk)
    assert (draft.name, draft.status) == ("Acme draft", Canvas.Status.DRAFT)
    assert Canvas.objects.get(pk=acme_objects["canvas"].pk).status == Canvas.Status.ACTIVE
    assert Step.objects.get(pk=acme_objects["delay"].pk).delay_seconds == 60
    assert Step.objects.filter(canvas=draft).count() == 1
    assert SyncRecord.objects.count() == 5


def test_the_owner_reaches_the_same_objects(acme_api, acme_objects):
    for method, path, body in object_requests(acme_objects):
        if method == "get":
            assert getattr(acme_api, method)(path).status_code == 200, path


def test_lists_show_only_the_keys_workspace(globex_api, acme_api, acme_objects, globex):
    services.canvas_create(workspace=globex, name="Globex canvas")
    assert [c["name"] for c in globex_api.get("/api/v1/canvases/").json()["results"]] == ["Globex canvas"]
    assert "Globex canvas" not in [c["name"] for c in acme_api.get("/api/v1/canvases/").json()["results"]]


def test_a_step_cannot_use_another_workspaces_ad_account_or_audience(globex_api, acme_objects, globex):
    canvas = services.canvas_create(workspace=globex, name="Globex canvas")
    url = f"/api/v1/canvases/{canvas.pk}/steps/"
    response = globex_api.post(url, {"ad_account": acme_objects["ad_account"].pinterest_id}, format="json")
    assert response.status_code == 400
    assert "ad_account" in error_of(response)["details"]["fields"]
    audience_id = acme_objects["step"].audience_id
    response = globex_api.post(url, {"audience": {"id": audience_id}}, format="json")
    assert response.status_code == 400
    assert f"No audience {audience_id} in this workspace" in error_of(response)["message"]
    assert not canvas.steps.exists()


def test_the_connection_shows_only_the_keys_workspace(globex_api, acme_objects):
    body = globex_api.get("/api/v1/connection/").json()
    assert body["status"] == "not_connected"
    assert body["ad_accounts"] == []
