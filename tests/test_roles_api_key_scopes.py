"""An API key may call what its scope allows, nothing more.

`entries` may only enter users, `read` may only GET, `full` may do
everything; a key of another workspace finds none of acme's objects. A
refused call answers 403 `forbidden` (404 for another workspace's object)
and changes nothing in the database.
"""

from __future__ import annotations

import pytest

from audiences import services
from integrations.api_keys import api_key_create
from integrations.models import ApiKey
from tests.api_support import _fresh_throttle_counts, client_with_key, error_of  # noqa: F401
from tests.roles_support import snapshot, world  # noqa: F401

pytestmark = pytest.mark.django_db

KEYS = ["entries", "read", "full", "other workspace"]
R, E, W = "read", "entries", "write"

# (operation, kind, method, path, body). `kind` says which scopes may call it.
TABLE = [
    ("connection", R, "get", "/api/v1/connection/", None),
    ("Pinterest audiences", R, "get", "/api/v1/ad-accounts/{ad_account}/audiences/", None),
    ("canvas list", R, "get", "/api/v1/canvases/", None),
    ("create a canvas", W, "post", "/api/v1/canvases/", {"name": "New"}),
    ("a canvas", R, "get", "/api/v1/canvases/{live}/", None),
    ("rename a canvas", W, "patch", "/api/v1/canvases/{empty}/", {"name": "Renamed"}),
    ("delete a canvas", W, "delete", "/api/v1/canvases/{empty}/", None),
    ("launch", W, "post", "/api/v1/canvases/{draft}/launch/", None),
    ("stop", W, "post", "/api/v1/canvases/{live}/stop/", None),
    ("a canvas's steps", R, "get", "/api/v1/canvases/{live}/steps/", None),
    ("add a step", W, "post", "/api/v1/canvases/{empty}/steps/", {"kind": "delay", "delay_seconds": 60}),
    ("a step", R, "get", "/api/v1/steps/{step}/", None),
    ("change a step", W, "patch", "/api/v1/steps/{draft_step}/", {"name": "Renamed"}),
    ("delete a step", W, "delete", "/api/v1/steps/{draft_step}/", None),
    ("enter users", E, "post", "/api/v1/canvases/{live}/entries/",
     {"users": [{"external_id": "new-1", "email": "new1@example.org"}]}),
    ("metrics", R, "get", "/api/v1/steps/{step}/metrics/", None),
    ("records", R, "get", "/api/v1/steps/{step}/records/", None),
    ("retry errored users", W, "post", "/api/v1/steps/{step}/retry-errored/", None),
    ("audit log", R, "get", "/api/v1/audit-events/", None),
    ("suppression count", R, "get", "/api/v1/suppressions/", None),
    ("suppress people", W, "post", "/api/v1/suppressions/", {"entries": [{"external_id": "opt-out-1"}]}),
    ("take people off the suppression list", W, "post", "/api/v1/suppressions/remove/",
     {"entries": [{"external_id": "user-0"}]}),
    ("erase a user", W, "delete", "/api/v1/users/{user}/", None),
    ("a privacy request", R, "get", "/api/v1/privacy-requests/{privacy_request}/", None),
    ("preview a step", W, "post", "/api/v1/steps/{step}/preview/",
     {"users": [{"external_id": "p1", "email": "p1@example.org"}]}),
    ("alert settings", R, "get", "/api/v1/alert-settings/", None),
    ("change alert settings", W, "patch", "/api/v1/alert-settings/", {"errored_threshold": 5}),
]
# Operations that write nothing even when allowed here (a dry run, a removal of someone not listed).
WRITE_NOTHING = {"preview a step"}


@pytest.fixture
def ids(world) -> dict:
    services.suppression_add(workspace=world.acme, entries=[{"external_id": "user-0"}])
    request = services.erasure_request(workspace=world.acme, external_id="user-2")
    return {"ad_account": world.ad_account.pinterest_id, "live": world.live.pk, "empty": world.empty.pk,
            "draft": world.draft.pk, "step": world.step.pk, "draft_step": world.draft_step.pk,
            "privacy_request": request.pk, "user": "user-1"}


def key(which: str, acme, globex) -> str:
    if which == "other workspace":
        return api_key_create(workspace=globex, name="globex", scope="full")[1]
    return api_key_create(workspace=acme, name=which, scope=which)[1]


@pytest.mark.parametrize("which", KEYS)
@pytest.mark.parametrize(("operation", "kind", "method", "path", "body"), TABLE, ids=[row[0] for row in TABLE])
def test_a_key_calls_only_what_its_scope_allows_and_changes_nothing_otherwise(
        world, ids, globex, which, operation, kind, method, path, body):
    api = client_with_key(key(which, world.acme, globex))
    before = snapshot()

    response = getattr(api, method)(path.format(**ids), body, format="json")

    if which == "other workspace":
        if "{" in path:
            assert response.status_code == 404, (operation, response.status_code)
            assert snapshot() == before
        else:  # it acts on its own workspace
            assert response.status_code < 300, (operation, response.status_code, response.content[:300])
        return
    allowed = which == "full" or (which == "read" and kind == R) or (which == "entries" and kind == E)
    if allowed:
        assert response.status_code < 300, (operation, which, response.status_code, response.content[:300])
        if kind != R and operation not in WRITE_NOTHING:
            assert snapshot() != before, f"{operation} with a {which} key changed nothing"
    else:
        assert response.status_code == 403, (operation, which, response.status_code)
        error = error_of(response)
        assert error["code"] == "forbidden"
        assert error["details"]["scope"] == which
        assert snapshot() == before, f"{operation} refused to a {which} key changed the database"


def test_a_key_scoped_to_entries_cannot_read_records_or_change_settings(world, ids):
    api = client_with_key(key("entries", world.acme, None))

    records = api.get(f"/api/v1/steps/{world.step.pk}/records/")
    settings = api.patch("/api/v1/alert-settings/", {"webhook_url": "https://ops.example.com/hook"}, format="json")

    assert (records.status_code, settings.status_code) == (403, 403)
    assert error_of(settings)["details"]["required_scopes"] == ["full"]
    assert services.alert_settings_of(world.acme).webhook_url == ""
    entered = api.post(f"/api/v1/canvases/{world.live.pk}/entries/",
                       {"users": [{"external_id": "n-1", "email": "n1@example.org"}]}, format="json")
    assert entered.status_code == 202


def test_keys_made_before_scopes_and_new_keys_by_default_are_full(acme):
    api_key, _ = api_key_create(workspace=acme, name="partner")

    assert api_key.scope == ApiKey.Scope.FULL
    with pytest.raises(ValueError, match="scope"):
        api_key_create(workspace=acme, name="odd", scope="admin")
