"""Every answer the API gives validates strictly against /api/v1/schema/.

One test per operation and documented status, read from the schema itself:
a status the schema documents without a scenario here fails, so the schema
cannot promise an answer nobody has seen. Each scenario makes the real call
(the partner's key for acme, the sandbox over HTTP for Pinterest) and
openapi-core validates the answer, headers included, against a strict copy of
the schema in which objects take no property they do not declare. Success
scenarios validate the request too: the schema accepts what the API accepts.
A few variants cover shapes a single call would miss (a delay step's null
audience, an unconnected workspace, a replayed entry).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlencode

import pytest
from django.test import Client
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from rest_framework.test import APIClient

from audiences import services
from integrations.services.connections import connection_mark_invalid
from tests.api_support import _fresh_throttle_counts, acme_api, client_with_key, pinterest_audience  # noqa: F401
from tests.conftest import make_users

pytestmark = [
    pytest.mark.django_db,
    # The audiences search takes `?search=` empty on purpose (allowEmptyValue), which openapi-core notes.
    pytest.mark.filterwarnings("ignore:Use of allowEmptyValue property is deprecated:DeprecationWarning"),
]

SCHEMA = json.loads(Client().get("/api/v1/schema/?format=json").content)
MISSING = "999999999"


def strict(schema: dict) -> dict:
    """A copy in which every object with declared properties refuses any other."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema["components"])
    return schema


OPENAPI = OpenAPI.from_dict(strict(SCHEMA))
OPERATIONS = {
    operation["operationId"]: (method, path)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
}
DOCUMENTED = [
    (operation["operationId"], int(status))
    for item in SCHEMA["paths"].values()
    for operation in item.values()
    for status in operation["responses"]
]


@dataclass
class Call:
    """One request to the API: what the scenario sends, so the answer can be matched to its operation."""

    method: str
    path: str
    body: object = None
    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    content_type: str = "application/json"
    raw: bytes | None = None


class World:
    """acme's objects, made on first use; `api` is the partner's client (acme's key)."""

    def __init__(self, request, api: APIClient):
        self.request, self.api = request, api

    def fixture(self, name: str):
        return self.request.getfixturevalue(name)

    @cached_property
    def acme(self):
        return self.fixture("acme")

    @cached_property
    def sandbox(self):
        return self.fixture("sandbox")

    @cached_property
    def ad_account(self):
        return self.fixture("ad_account")

    @cached_property
    def active(self):
        """Launched, one Audience Sync step (add, email, a new audience), five users entered."""
        canvas = self.fixture("add_canvas")
        services.users_enter(canvas=canvas, users=make_users(5))
        return canvas

    @cached_property
    def active_step(self):
        return self.active.steps.get()

    @cached_property
    def draft(self):
        """A draft that can launch: an Audience Sync step with ad account, audience and match field."""
        canvas = services.canvas_create(workspace=self.acme, name="Win-back")
        audience = services.audience_create_draft(workspace=self.acme, ad_account=self.ad_account, name="Lapsed")
        services.step_create_audience_sync(canvas=canvas, ad_account=self.ad_account, audience=audience)
        return canvas

    @cached_property
    def draft_step(self):
        return self.draft.steps.get()

    @cached_property
    def empty_draft(self):
        return services.canvas_create(workspace=self.acme, name="Empty")

    @cached_property
    def delay_step(self):
        canvas = services.canvas_create(workspace=self.acme, name="Wait a day")
        return services.step_create_delay(canvas=canvas, seconds=86400)

    def send(self, call: Call, client: APIClient | None = None):
        if client is None:
            # A call that sends its own Authorization goes without the partner's key.
            client = APIClient() if "Authorization" in call.headers else self.api
        url = call.path + (f"?{urlencode(call.query)}" if call.query else "")
        if call.raw is not None:
            data = call.raw
        elif call.body is not None:
            data = json.dumps(call.body)
        else:
            data = None
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in call.headers.items()}
        return client.generic(call.method.upper(), url, data or "", content_type=call.content_type, **extra)


def users_body(n: int = 3, start: int = 0) -> dict:
    return {"users": make_users(n, start=start)}


# --- What each operation is asked when it succeeds ------------------------------------------------------

SUCCESS = {
    "connection_retrieve": lambda w: (w.ad_account, Call("get", "/api/v1/connection/"))[1],
    "ad_account_audiences_list": lambda w: (
        pinterest_audience(w.sandbox, w.ad_account, "Buyers"),
        pinterest_audience(w.sandbox, w.ad_account, "Buyers again"),
        Call("get", f"/api/v1/ad-accounts/{w.ad_account.pinterest_id}/audiences/",
             query={"search": "buyers", "page_size": 1}),
    )[-1],
    "canvases_list": lambda w: (w.active, w.delay_step, Call("get", "/api/v1/canvases/", query={"page_size": 1}))[-1],
    "canvases_create": lambda w: Call("post", "/api/v1/canvases/", body={"name": "Welcome"}),
    "canvases_retrieve": lambda w: Call("get", f"/api/v1/canvases/{w.active.pk}/"),
    "canvases_partial_update": lambda w: Call("patch", f"/api/v1/canvases/{w.draft.pk}/", body={"name": "Renamed"}),
    "canvases_destroy": lambda w: Call("delete", f"/api/v1/canvases/{w.empty_draft.pk}/"),
    "canvases_launch": lambda w: Call("post", f"/api/v1/canvases/{w.draft.pk}/launch/"),
    "canvases_stop": lambda w: Call("post", f"/api/v1/canvases/{w.active.pk}/stop/"),
    "canvas_steps_list": lambda w: Call("get", f"/api/v1/canvases/{w.draft.pk}/steps/"),
    "canvas_steps_create": lambda w: Call(
        "post", f"/api/v1/canvases/{w.draft.pk}/steps/",
        body={"ad_account": w.ad_account.pinterest_id, "audience": {"new": "VIPs"}, "action": "remove",
              "match_fields": ["email", "ios_idfa"], "name": "Drop VIPs"}),
    "canvas_entries_create": lambda w: Call(
        "post", f"/api/v1/canvases/{w.active.pk}/entries/", body=users_body(3, start=100),
        headers={"Idempotency-Key": "first-call"}),
    "steps_retrieve": lambda w: Call("get", f"/api/v1/steps/{w.active_step.pk}/"),
    "steps_partial_update": lambda w: Call(
        "patch", f"/api/v1/steps/{w.draft_step.pk}/",
        body={"audience": {"new": "Lapsed, again"}, "match_fields": ["email", "android_aid"]}),
    "steps_destroy": lambda w: Call("delete", f"/api/v1/steps/{w.draft_step.pk}/"),
    "steps_metrics": lambda w: Call("get", f"/api/v1/steps/{w.active_step.pk}/metrics/", query={"hours": 3}),
    "steps_records_list": lambda w: Call("get", f"/api/v1/steps/{w.active_step.pk}/records/",
                                         query={"page_size": 2}),
    "steps_retry_errored": lambda w: Call("post", f"/api/v1/steps/{w.active_step.pk}/retry-errored/"),
    # Trust and privacy
    "audit_events_list": lambda w: (w.active, Call("get", "/api/v1/audit-events/", query={"page_size": 1}))[-1],
    "suppressions_count": lambda w: Call("get", "/api/v1/suppressions/"),
    "suppressions_add": lambda w: (w.active, Call("post", "/api/v1/suppressions/", body={
        "entries": [{"email": "user0@example.com"}, {"external_id": "user-1", "ios_idfa": None}]}))[-1],
    "suppressions_remove": lambda w: Call("post", "/api/v1/suppressions/remove/",
                                          body={"entries": [{"external_id": "user-1"}]}),
    "users_erase": lambda w: (w.active, Call("delete", "/api/v1/users/user-0/"))[-1],
    "privacy_requests_retrieve": lambda w: Call(
        "get", f"/api/v1/privacy-requests/{(w.active, services.erasure_request(workspace=w.acme, external_id='user-1'))[-1].pk}/"),
    "steps_preview": lambda w: Call("post", f"/api/v1/steps/{w.active_step.pk}/preview/",
                                    body={**users_body(3), "volume": 100000}),
    "alert_settings_retrieve": lambda w: Call("get", "/api/v1/alert-settings/"),
    "alert_settings_update": lambda w: Call("patch", "/api/v1/alert-settings/", body={
        "emails": ["ops@acme.test"], "webhook_url": "https://hooks.acme.test/alerts", "errored_threshold": 10}),
    # Segments
    "segments_list": lambda w: (segment_of(w), Call("get", "/api/v1/segments/", query={"page_size": 1}))[-1],
    "segments_create": lambda w: Call("post", "/api/v1/segments/", body={"step": w.active_step.pk, "name": "VIP"}),
    "segments_retrieve": lambda w: Call("get", f"/api/v1/segments/{segment_of(w).pk}/"),
    "segments_snapshots_list": lambda w: (snapshot_of(w), Call(
        "get", f"/api/v1/segments/{segment_of(w).pk}/snapshots/"))[-1],
    "segments_snapshots_create": lambda w: Call("post", f"/api/v1/segments/{segment_of(w).pk}/snapshots/"),
    "segments_snapshots_retrieve": lambda w: Call("get", snapshot_path(w, snapshot_of(w, commit=True))),
    "segments_snapshots_members_create": lambda w: Call(
        "post", snapshot_path(w, snapshot_of(w), "members/"), body={"members": users_body(3)["users"]},
        headers={"Idempotency-Key": "page-1"}),
    "segments_snapshots_commit": lambda w: Call("post", snapshot_path(w, snapshot_of(w), "commit/"),
                                                body={"confirm": False}),
    "segments_snapshots_discard": lambda w: Call("post", snapshot_path(w, snapshot_of(w), "discard/")),
}


def segment_of(w: World):
    """acme's segment feeding its active step (made once per test)."""
    from audiences.models import Segment
    from audiences.services import segments

    return Segment.objects.filter(step=w.active_step).first() or segments.segment_create(step=w.active_step)


def snapshot_of(w: World, *, commit: bool = False):
    from audiences.services import segments

    snapshot = segments.snapshot_open(segment_of(w), source="api", actor="test")
    segments.snapshot_add(snapshot, users_body(2)["users"])
    return segments.snapshot_commit(snapshot, actor="test") if commit else snapshot


def snapshot_path(w: World, snapshot, action: str = "") -> str:
    return f"/api/v1/segments/{snapshot.segment_id}/snapshots/{snapshot.pk}/{action}"


def _faulty_pinterest(w: World) -> None:
    w.sandbox.state.set_faults(rate_5xx=1.0)


# --- Errors that only some operations answer ------------------------------------------------------------

SPECIFIC = {
    ("ad_account_audiences_list", 409): lambda w: (
        connection_mark_invalid(connection=w.ad_account.connection, reason="Pinterest refused the token."),
        Call("get", f"/api/v1/ad-accounts/{w.ad_account.pinterest_id}/audiences/"))[-1],
    ("ad_account_audiences_list", 503): lambda w: (
        w.ad_account, _faulty_pinterest(w),
        Call("get", f"/api/v1/ad-accounts/{w.ad_account.pinterest_id}/audiences/"))[-1],
    ("canvases_destroy", 409): lambda w: Call("delete", f"/api/v1/canvases/{w.active.pk}/"),
    ("canvases_launch", 409): lambda w: Call("post", f"/api/v1/canvases/{w.empty_draft.pk}/launch/"),
    ("canvases_stop", 409): lambda w: Call("post", f"/api/v1/canvases/{w.empty_draft.pk}/stop/"),
    ("canvas_steps_create", 409): lambda w: Call(
        "post", f"/api/v1/canvases/{w.active.pk}/steps/", body={"kind": "delay", "delay_seconds": 60}),
    ("canvas_steps_create", 503): lambda w: (
        w.draft, _faulty_pinterest(w),
        Call("post", f"/api/v1/canvases/{w.draft.pk}/steps/",
             body={"ad_account": w.ad_account.pinterest_id, "audience": "123456"}))[-1],
    ("canvas_entries_create", 409): lambda w: Call(
        "post", f"/api/v1/canvases/{w.draft.pk}/entries/", body=users_body()),
    ("canvas_entries_create", 422): lambda w: (
        w.send(Call("post", f"/api/v1/canvases/{w.active.pk}/entries/", body=users_body(2),
                    headers={"Idempotency-Key": "k-1"})),
        Call("post", f"/api/v1/canvases/{w.active.pk}/entries/", body=users_body(3),
             headers={"Idempotency-Key": "k-1"}))[-1],
    ("steps_partial_update", 409): lambda w: Call(
        "patch", f"/api/v1/steps/{w.active_step.pk}/", body={"action": "remove"}),
    ("steps_partial_update", 503): lambda w: (
        w.draft_step, _faulty_pinterest(w),
        Call("patch", f"/api/v1/steps/{w.draft_step.pk}/", body={"audience": "123456"}))[-1],
    ("steps_destroy", 409): lambda w: Call("delete", f"/api/v1/steps/{w.active_step.pk}/"),
    ("steps_records_list", 409): lambda w: Call("get", f"/api/v1/steps/{w.delay_step.pk}/records/"),
    ("steps_retry_errored", 409): lambda w: Call("post", f"/api/v1/steps/{w.delay_step.pk}/retry-errored/"),
    ("steps_preview", 409): lambda w: Call("post", f"/api/v1/steps/{w.delay_step.pk}/preview/", body=users_body(1)),
    ("segments_create", 409): lambda w: (segment_of(w), Call(
        "post", "/api/v1/segments/", body={"step": w.active_step.pk}))[-1],
    ("segments_snapshots_members_create", 409): lambda w: Call(
        "post", snapshot_path(w, snapshot_of(w, commit=True), "members/"), body={"members": users_body(1)["users"]}),
    ("segments_snapshots_members_create", 422): lambda w: (lambda snapshot: (
        w.send(Call("post", snapshot_path(w, snapshot, "members/"), body={"members": users_body(2)["users"]},
                    headers={"Idempotency-Key": "k-1"})),
        Call("post", snapshot_path(w, snapshot, "members/"), body={"members": users_body(3)["users"]},
             headers={"Idempotency-Key": "k-1"}))[-1])(snapshot_of(w)),
    ("segments_snapshots_commit", 202): lambda w: (  # a snapshot too large to commit within the request
        setattr(w.fixture("settings"), "SEGMENT_COMMIT_INLINE_ROWS", 1),
        Call("post", snapshot_path(w, snapshot_of(w), "commit/"), body={}))[-1],
    ("segments_snapshots_commit", 409): lambda w: Call(
        "post", snapshot_path(w, snapshot_of(w, commit=True), "commit/"), body={}),
    ("segments_snapshots_discard", 409): lambda w: Call(
        "post", snapshot_path(w, snapshot_of(w, commit=True), "discard/")),
}

# Shapes one call per status would miss: (name, operation, status, scenario).
VARIANTS = [
    ("not-connected", "connection_retrieve", 200, lambda w: Call("get", "/api/v1/connection/")),
    ("invalid-connection", "connection_retrieve", 200, lambda w: (
        connection_mark_invalid(connection=w.ad_account.connection, reason="Pinterest refused the token."),
        Call("get", "/api/v1/connection/"))[-1]),
    ("delay-step", "steps_retrieve", 200, lambda w: Call("get", f"/api/v1/steps/{w.delay_step.pk}/")),
    ("delay-step", "canvas_steps_create", 201, lambda w: Call(
        "post", f"/api/v1/canvases/{w.empty_draft.pk}/steps/", body={"kind": "delay", "delay_seconds": 60})),
    ("reused-audience", "canvas_steps_create", 201, lambda w: Call(
        "post", f"/api/v1/canvases/{w.draft.pk}/steps/",
        body={"ad_account": w.ad_account.pinterest_id, "audience": {"id": w.draft_step.audience_id}})),
    ("existing-audience", "canvas_steps_create", 201, lambda w: Call(
        "post", f"/api/v1/canvases/{w.draft.pk}/steps/",
        body={"ad_account": w.ad_account.pinterest_id,
              "audience": pinterest_audience(w.sandbox, w.ad_account, "Existing buyers")})),
    ("no-audience", "steps_partial_update", 200, lambda w: Call(
        "patch", f"/api/v1/steps/{w.draft_step.pk}/", body={"audience": None})),
    ("delay-metrics", "steps_metrics", 200, lambda w: Call("get", f"/api/v1/steps/{w.delay_step.pk}/metrics/")),
    ("replayed", "canvas_entries_create", 202, lambda w: (
        w.send(Call("post", f"/api/v1/canvases/{w.active.pk}/entries/", body=users_body(2),
                    headers={"Idempotency-Key": "again"})),
        Call("post", f"/api/v1/canvases/{w.active.pk}/entries/", body=users_body(2),
             headers={"Idempotency-Key": "again"}))[-1]),
    ("bad-row", "canvas_entries_create", 400, lambda w: Call(
        "post", f"/api/v1/canvases/{w.active.pk}/entries/",
        body={"users": [{"external_id": "a", "email": "a@example.com"}, {"external_id": "b", "email": "nope"}]})),
    ("empty-body", "canvas_steps_create", 400, lambda w: Call("post", f"/api/v1/canvases/{w.draft.pk}/steps/")),
    ("empty-object", "canvas_steps_create", 400, lambda w: Call(
        "post", f"/api/v1/canvases/{w.draft.pk}/steps/", body={})),
    ("bad-json", "canvases_create", 400, lambda w: Call("post", "/api/v1/canvases/", raw=b"{nope")),
    ("bad-key", "canvases_list", 401, lambda w: Call("get", "/api/v1/canvases/",
                                                      headers={"Authorization": "Bearer pas_nope"})),
    ("launch-refused", "canvases_launch", 409, lambda w: (
        services.step_create_audience_sync(canvas=w.empty_draft, ad_account=None, audience=None, match_fields=()),
        Call("post", f"/api/v1/canvases/{w.empty_draft.pk}/launch/"))[-1]),
]


def generic(operation_id: str, status: int, w: World, settings) -> tuple[Call, APIClient | None] | None:
    """The errors every operation of a kind can answer, made from its success call."""
    if status not in (400, 401, 403, 404, 413, 415, 429):
        return None
    call = SUCCESS[operation_id](w)
    if status == 403:
        # A key whose scope does not cover the operation: `entries` reads nothing, `read` writes nothing.
        from integrations.api_keys import api_key_create

        scope = "entries" if call.method == "get" else "read"
        return call, client_with_key(api_key_create(workspace=w.acme, name="narrow", scope=scope)[1])
    if status == 400:
        call.query = {**call.query, "bogus": "1"}  # an unknown query parameter
    elif status == 401:
        return call, APIClient()
    elif status == 404:
        _, template = OPERATIONS[operation_id]
        call.path = template.replace("{id}", MISSING)
    elif status == 413:
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256
        call.body, call.raw = None, json.dumps({"name": "x" * 1000}).encode()
    elif status == 415:
        call.body, call.raw, call.content_type = None, b"name=x", "application/x-www-form-urlencoded"
    elif status == 429:
        settings.API_THROTTLE_RATE = "1/min"
        assert w.send(Call("get", "/api/v1/connection/")).status_code == 200
    return call, None


def validate(call: Call, response, *, request_too: bool) -> None:
    request = MockRequest(
        "http://testserver", call.method, call.path, args=call.query,
        headers={"Authorization": "Bearer x", **call.headers},
        data=call.raw if call.raw is not None else (json.dumps(call.body).encode() if call.body is not None else None),
        content_type=call.content_type,
    )
    if request_too:
        OPENAPI.validate_request(request)
    answer = MockResponse(response.content, status_code=response.status_code, headers=dict(response.items()),
                          content_type=response.get("Content-Type", "application/json"))
    OPENAPI.validate_response(request, answer)


CASES = [pytest.param(operation_id, status, None, id=f"{operation_id}-{status}")
         for operation_id, status in DOCUMENTED]
CASES += [pytest.param(operation_id, status, scenario, id=f"{operation_id}-{status}-{name}")
          for name, operation_id, status, scenario in VARIANTS]


@pytest.mark.parametrize("operation_id, status, scenario", CASES)
def test_the_answer_validates_strictly(operation_id, status, scenario, request, acme_api, settings):
    w = World(request, acme_api)
    client = None
    if scenario is not None:
        call = scenario(w)
    elif (operation_id, status) in SPECIFIC:
        call = SPECIFIC[(operation_id, status)](w)
    elif status < 300:
        call = SUCCESS[operation_id](w)
    else:
        made = generic(operation_id, status, w, settings)
        if made is None:
            pytest.fail(f"{operation_id} documents {status} but no scenario here produces it")
        call, client = made
    assert call.method == OPERATIONS[operation_id][0], (call.method, operation_id)

    response = w.send(call, client)

    assert response.status_code == status, response.content[:500]
    validate(call, response, request_too=status < 300)
    if status == 202 and scenario is not None and operation_id == "canvas_entries_create":
        assert response["Idempotent-Replayed"] == "true"


def test_every_operation_has_a_success_scenario():
    assert set(SUCCESS) == set(OPERATIONS)
    assert all(key[0] in OPERATIONS for key in SPECIFIC)
    assert set(SPECIFIC) <= set(DOCUMENTED), set(SPECIFIC) - set(DOCUMENTED)


def test_the_validation_is_strict():
    """What the strict copy refuses: an undeclared property, an unknown error code, null for a plain reference."""
    from openapi_core.validation.response.exceptions import InvalidData

    step = {"id": 1, "canvas": 1, "position": 0, "kind": "delay", "name": "", "ad_account": None, "audience": None,
            "action": None, "match_fields": None, "delay_seconds": 60}
    request = MockRequest("http://testserver", "get", "/api/v1/steps/1/")

    def check(body: dict, status: int = 200) -> None:
        OPENAPI.validate_response(request, MockResponse(json.dumps(body).encode(), status_code=status))

    check(step)
    with pytest.raises(InvalidData):
        check({**step, "secret": "x"})
    with pytest.raises(InvalidData):
        check({"error": {"code": "no_such_code", "message": "x"}}, 404)
    with pytest.raises(InvalidData):
        check({"error": {"code": "not_found", "message": "x", "details": {"anything": 1}}}, 404)
    old_form = strict(SCHEMA)
    old_form["components"]["schemas"]["Step"]["properties"]["audience"] = {
        "allOf": [{"$ref": "#/components/schemas/Audience"}], "nullable": True}
    with pytest.raises(InvalidData):
        OpenAPI.from_dict(old_form).validate_response(
            request, MockResponse(json.dumps(step).encode(), status_code=200))
