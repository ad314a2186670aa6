"""The walls that hold, asserted from the outside and for every door at once.

- Tenants: every API operation with an id in its path, and every admin page
  of a workspace's object (the scoped model admins and the canvas admin's
  own pages, found by walking the admin's URLs), answers 404 to another
  workspace, for reads and writes, and changes nothing.
- Secrets and raw identifiers: after connecting, entering users, syncing,
  a refused token and a refresh, no OAuth token, client secret, raw email or
  ad id is in the database, in a log line (at DEBUG) or in a request sent
  to Pinterest (outside the one header or form field that must carry it).

Fixtures come from the tenancy, admin-wall and secrets tests; this file adds
the sweep over every door rather than a list kept by hand.
"""

from __future__ import annotations

import io
import logging
import re

import pytest
from django.contrib import admin
from django.urls import reverse

from audiences import services
from audiences.models import Canvas, Step, SyncRecord
from audiences.sending.pump import send_due_now
from audiences.services import imports, segments
from integrations.services.connections import ConnectionUnusable
from integrations.services.tokens import connection_refresh, with_pinterest
from integrations.admin import WorkspaceScopedAdmin
from integrations.api_keys import api_key_create
from integrations.models import PinterestConnection
from tests.api_support import _fresh_throttle_counts, acme_api, error_of, globex_api  # noqa: F401
from tests.conftest import make_users
from tests.test_api_tenancy import acme_objects  # noqa: F401
from tests.test_secrets import database_bytes

pytestmark = pytest.mark.django_db

RAW = re.compile(r"[\w.+-]+@example\.com|-aaaa-bbbb-cccc-ddddeeeeffff|-AAAA-BBBB-CCCC-DDDDEEEEFFFF", re.IGNORECASE)


# --- Tenants: the API ---------------------------------------------------------------------------


def api_operations_with_ids(client) -> list[tuple[str, str]]:
    schema = client.get("/api/v1/schema/?format=json").json()
    return [
        (method, path)
        for path, item in schema["paths"].items()
        if "{id}" in path
        for method in item
        if method in ("get", "post", "patch", "put", "delete")
    ]


def test_every_api_operation_with_an_id_answers_404_to_another_workspace(globex_api, acme_objects):  # noqa: F811
    erasure = services.erasure_request(workspace=acme_objects["canvas"].workspace, external_id="user-4")
    segment = segments.segment_create(step=acme_objects["step"], name="Acme segment")
    snapshot = segments.snapshot_open(segment, source="api", actor="acme")
    ids = {"/api/v1/canvases/": acme_objects["draft"].pk, "/api/v1/steps/": acme_objects["delay"].pk,
           "/api/v1/ad-accounts/": acme_objects["ad_account"].pinterest_id, "/api/v1/privacy-requests/": erasure.pk,
           "/api/v1/segments/": segment.pk}
    live = {"/api/v1/canvases/{id}/entries/": acme_objects["canvas"].pk,
            "/api/v1/canvases/{id}/stop/": acme_objects["canvas"].pk,
            "/api/v1/steps/{id}/records/": acme_objects["step"].pk,
            "/api/v1/steps/{id}/retry-errored/": acme_objects["step"].pk}
    bodies = {"post": {"users": make_users(1, start=500)}, "patch": {"name": "Mine now"}}
    operations = api_operations_with_ids(globex_api)
    assert len(operations) >= 14

    for method, path in operations:
        target = live.get(path) or next(value for prefix, value in ids.items() if path.startswith(prefix))
        url = re.sub(r"\{snapshot\w*\}", str(snapshot.pk), path.replace("{id}", str(target)))
        response = getattr(globex_api, method)(url, bodies.get(method), format="json")
        assert response.status_code == 404, (method, url, response.status_code)
        assert error_of(response)["code"] == "not_found"

    assert SyncRecord.objects.count() == 5
    assert Canvas.objects.get(pk=acme_objects["draft"].pk).name == "Acme draft"
    snapshot.refresh_from_db()
    assert (snapshot.state, snapshot.members) == ("open", 0)
    assert Step.objects.filter(canvas__workspace=acme_objects["canvas"].workspace).count() == 2


# --- Tenants: the admin -------------------------------------------------------------------------


@pytest.fixture
def acme_world(acme, alice, ad_account, add_canvas, sandbox):
    services.users_enter(canvas=add_canvas, users=make_users(3))
    send_due_now()
    api_key_create(workspace=acme, name="acme key")
    # Trust and privacy: the suppression list, an erasure, alert settings and an incident.
    services.suppression_add(workspace=acme, entries=[{"external_id": "opt-out"}])
    services.erasure_request(workspace=acme, external_id="user-0")
    services.alert_settings_update(workspace=acme, emails=["ops@acme.test"])
    from audiences.models import Incident
    Incident.objects.create(workspace=acme, kind=Incident.Kind.STEP_ERRORED, key="step:0", summary="Errored users")
    # A segment on the add step, and an upload of two users.
    segments.segment_create(step=add_canvas.steps.get(), name="Acme segment")
    imports.import_create(workspace=acme, kind="entries", canvas=add_canvas, file_name="two.csv",
                          file=io.BytesIO(b"external_id,email\nu-1,a@example.com\nu-2,b@example.com\n"))
    return {"canvas": add_canvas, "step": add_canvas.steps.get()}


def scoped_objects(acme) -> list[tuple[str, object]]:
    """(admin URL name prefix, object) for one acme object of every workspace-scoped model admin."""
    found = []
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, WorkspaceScopedAdmin):
            continue
        obj = model.objects.filter(**{model_admin.workspace_path: acme}).first()
        assert obj is not None, f"no acme {model.__name__} to try the wall with"
        found.append((f"admin:{model._meta.app_label}_{model._meta.model_name}", obj))
    return found


def test_every_scoped_admin_page_answers_404_to_another_workspace(client, charlie, acme, acme_world):
    client.force_login(charlie)
    objects = scoped_objects(acme)
    assert {name.rsplit("_", 1)[-1] for name, _ in objects} >= {
        "canvas", "audience", "syncrecord", "sendlog", "pinterestconnection", "adaccount", "apikey"}

    for name, obj in objects:
        for page in ("change", "history", "delete"):
            url = reverse(f"{name}_{page}", args=[obj.pk])
            assert client.get(url).status_code == 404, url
            assert client.post(url, {"post": "yes", "name": "Mine now"}).status_code == 404, url
        listed = client.get(reverse(f"{name}_changelist")).content.decode()
        assert f"/{obj.pk}/change/" not in listed, name


def test_every_page_of_the_canvas_admin_answers_404_to_another_workspace(client, charlie, acme_world):
    canvas_admin = admin.site._registry[Canvas]
    ids = {"canvas_id": acme_world["canvas"].pk, "step_id": acme_world["step"].pk}
    client.force_login(charlie)
    pages = [p for p in canvas_admin.get_urls() if set(p.pattern.converters) & set(ids)]
    assert len(pages) >= 7

    for page in pages:
        url = reverse(f"admin:{page.name}", kwargs={k: ids[k] for k in page.pattern.converters})
        assert client.get(url, {"ad_account": "1"}).status_code == 404, url
        assert client.post(url, {"name": "Mine now", "country": "US", "percentage": 5}).status_code == 404, url
    assert Canvas.objects.get(pk=acme_world["canvas"].pk).status == Canvas.Status.ACTIVE


def test_the_workspace_admin_is_for_superusers_only(client, charlie, acme):
    client.force_login(charlie)
    assert client.get(reverse("admin:integrations_workspace_change", args=[acme.pk])).status_code in (403, 404)
    assert "acme" not in client.get(reverse("admin:index")).content.decode().lower()


# --- Secrets and raw identifiers ----------------------------------------------------------------


@pytest.fixture
def wire(sandbox):
    """Every request Pinterest (the sandbox) receives: method, path, headers and body."""
    seen: list[dict] = []

    def recording(received):
        seen.append({"method": received.method, "path": received.path, "headers": received.headers,
                     "body": received.body.decode("utf-8", "replace")})

    sandbox.state.observers.append(recording)
    yield seen
    sandbox.state.observers.remove(recording)


@pytest.mark.django_db(transaction=True)
def test_no_token_or_raw_identifier_is_stored_logged_or_sent_where_it_should_not_be(
    acme_api, acme, ad_account, add_canvas, sandbox, pinterest_user, wire, caplog
):
    caplog.set_level(logging.DEBUG)
    connection = PinterestConnection.objects.get(workspace=acme)
    users = make_users(40, idfa=True, aaid=True)
    raw_values = {u[k].strip() for u in users for k in ("email", "ios_idfa", "android_aid")}

    assert acme_api.post(f"/api/v1/canvases/{add_canvas.pk}/entries/", {"users": users[:20]},
                         format="json").status_code == 202
    bad = acme_api.post(f"/api/v1/canvases/{add_canvas.pk}/entries/",
                        {"users": users[20:] + [{"external_id": "user-21", "email": "other@example.com"}]},
                        format="json")
    assert bad.status_code == 400 and not RAW.search(bad.content.decode())  # refusals name rows, not values
    services.users_enter(canvas=add_canvas, users=users[20:])
    sandbox.state.expire(connection.access_token)  # the next call meets a 401 and refreshes
    send_due_now()
    refreshed = connection_refresh(connection=PinterestConnection.objects.get(pk=connection.pk))
    sandbox.state.revoke_user(pinterest_user["user"]["id"])
    with pytest.raises(ConnectionUnusable):
        with_pinterest(refreshed, lambda client: client.user_account())
    assert SyncRecord.objects.filter(state=SyncRecord.State.SYNCED).count() == 40

    # Every token Pinterest issued in this test: the first pair and each refresh's.
    issued = [token for token in sandbox.state.tokens.values() if token.user_id == pinterest_user["user"]["id"]]
    access_tokens = {token.value for token in issued if token.kind == "access"}
    tokens = {token.value for token in issued}
    assert len(access_tokens) == 3 and refreshed.access_token in access_tokens
    secrets = tokens | {"test-client-secret"}

    stored = database_bytes()
    assert refreshed.access_token_encrypted.encode() in stored
    for value in secrets | raw_values:
        assert value.encode() not in stored, "stored in plain text"

    logged = "\n".join(record.getMessage() for record in caplog.records)
    for value in secrets | raw_values:
        assert value not in logged, "logged"

    assert wire, "nothing reached Pinterest"
    for request in wire:
        authorization = request["headers"].get("Authorization", "")
        elsewhere = request["path"] + request["body"] + "".join(
            f"{k}: {v}" for k, v in request["headers"].items() if k.lower() != "authorization")
        for value in secrets | raw_values:
            if value in raw_values or value in access_tokens or value == "test-client-secret":
                assert value not in elsewhere, (request["method"], request["path"])
            elif not request["path"].endswith("/oauth/token"):  # a refresh token goes to the token endpoint only
                assert value not in elsewhere + authorization, (request["method"], request["path"])
        if authorization.startswith("Bearer "):
            assert authorization[7:] in access_tokens
    records = [r for r in wire if "customer_lists" in r["path"] and r["body"]]
    assert records and all(re.fullmatch(r"[0-9a-f]{64}(,[0-9a-f]{64})*", _records(r["body"])) for r in records)


def _records(body: str) -> str:
    import json

    return json.loads(body)["records"]
