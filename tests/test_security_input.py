"""No input, however odd, gets a 500: a clear 4xx in the API's one error shape, and nothing is written.

Lone UTF-16 surrogates (JSON "\\ud800" without its pair) cannot be encoded as
UTF-8, so they can be neither stored, sent nor echoed; bodies nested 100,000
deep make Python's JSON reader recurse until it fails. Both are refused
where the body is read, naming where the surrogate is.
"""

from __future__ import annotations

import pytest

from audiences.models import Audience, Canvas, Step, SyncRecord
from tests.api_support import _fresh_throttle_counts, acme_api, error_of  # noqa: F401

pytestmark = pytest.mark.django_db

SURROGATE = "\\ud800"  # as it appears in the JSON text: the escape of a lone high surrogate


def post_raw(api, path: str, body: str, method: str = "POST"):
    return api.generic(method, path, body.encode("utf-8"), content_type="application/json")


@pytest.fixture
def draft(acme):
    from audiences import services

    return services.canvas_create(workspace=acme, name="Draft")


@pytest.mark.parametrize("field", ["external_id", "email", "ios_idfa", "android_aid"])
@pytest.mark.parametrize("escape", [SURROGATE, "\\udfff", "x\\ud800y", "\\udc00\\ud800"])
def test_a_lone_surrogate_in_an_entry_is_a_400_naming_row_and_field(acme_api, add_canvas, field, escape):
    users = ", ".join(f'{{"external_id": "user-{i}", "email": "user{i}@example.com"}}' for i in range(3))
    value = f'"{escape}"' if field != "email" else f'"a{escape}@example.com"'
    bad = f'{{"external_id": "u-bad", "email": "bad@example.com", "{field}": {value}}}'
    if field == "external_id":
        bad = f'{{"external_id": {value}}}'

    response = post_raw(acme_api, f"/api/v1/canvases/{add_canvas.pk}/entries/", f'{{"users": [{users}, {bad}]}}')

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "invalid"
    assert (error["details"]["row"], error["details"]["field"]) == (3, field)
    assert "surrogate" in error["message"]
    assert not SyncRecord.objects.exists()


def test_a_surrogate_pair_is_text_and_goes_through(acme_api, add_canvas, draft):
    response = post_raw(acme_api, "/api/v1/canvases/", '{"name": "Launch \\ud83d\\ude80"}')
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Launch \U0001f680"
    entry = post_raw(acme_api, f"/api/v1/canvases/{add_canvas.pk}/entries/",
                     '{"users": [{"external_id": "r\\u00e9my-\\ud83d\\ude80", "email": "remy@example.com"}]}')
    assert entry.status_code == 202, entry.content


@pytest.mark.parametrize(
    "method, path, body, where",
    [
        ("POST", "/api/v1/canvases/", f'{{"name": "{SURROGATE}"}}', "name"),
        ("PATCH", "/api/v1/canvases/{draft}/", f'{{"name": "ok {SURROGATE}"}}', "name"),
        ("POST", "/api/v1/canvases/{draft}/steps/", f'{{"kind": "delay", "delay_seconds": 5, "name": "{SURROGATE}"}}',
         "name"),
        ("POST", "/api/v1/canvases/{draft}/steps/", f'{{"audience": {{"new": "{SURROGATE}"}}}}', "audience.new"),
        ("POST", "/api/v1/canvases/{draft}/steps/", f'{{"match_fields": ["{SURROGATE}"]}}', "match_fields[0]"),
        ("POST", "/api/v1/canvases/{draft}/steps/", f'{{"{SURROGATE}": 1}}', "(top level)"),
        ("POST", "/api/v1/canvases/{draft}/entries/", f'{{"users": [{{"{SURROGATE}": "x"}}]}}', "users[0]"),
        ("POST", "/api/v1/canvases/", f'"{SURROGATE}"', "non_field_errors"),
    ],
)
def test_a_lone_surrogate_in_any_string_of_the_api_is_a_400(acme_api, draft, method, path, body, where):
    response = post_raw(acme_api, path.format(draft=draft.pk), body, method)

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert list(error["details"]["fields"]) == [where]
    assert "surrogate" in error["message"]
    assert Canvas.objects.count() == 1 and Canvas.objects.get().name == "Draft"
    assert not Step.objects.exists() and not Audience.objects.exists()


@pytest.mark.parametrize("depth", [100_000, 5_000, 990, 33])
@pytest.mark.parametrize("path", ["/api/v1/canvases/", "/api/v1/canvases/{draft}/steps/",
                                  "/api/v1/canvases/{canvas}/entries/"])
def test_a_deeply_nested_body_is_a_400(acme_api, draft, add_canvas, depth, path):
    body = '{"users": ' + "[" * depth + "]" * depth + "}"

    response = post_raw(acme_api, path.format(draft=draft.pk, canvas=add_canvas.pk), body)

    assert response.status_code == 400, response.content[:300]
    error = error_of(response)
    assert error["code"] == "malformed_json"
    assert "nest" in error["message"]
    assert not SyncRecord.objects.exists() and Canvas.objects.count() == 2


def test_nesting_a_real_body_needs_stays_accepted(acme_api, draft, ad_account):
    response = post_raw(acme_api, f"/api/v1/canvases/{draft.pk}/steps/",
                        '{"ad_account": "%s", "audience": {"new": "Nested"}, "match_fields": ["email"]}'
                        % ad_account.pinterest_id)
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("value", ["u\\u0000", "u\\u001b[31m", "u\\u0085"])
def test_control_characters_in_an_external_id_are_a_400(acme_api, add_canvas, value):
    response = post_raw(acme_api, f"/api/v1/canvases/{add_canvas.pk}/entries/",
                        f'{{"users": [{{"external_id": "{value}", "email": "a@example.com"}}]}}')
    assert response.status_code == 400
    assert error_of(response)["details"]["field"] == "external_id"
    assert not SyncRecord.objects.exists()


def test_a_new_audience_name_with_control_characters_is_a_400(acme_api, draft, ad_account):
    response = post_raw(acme_api, f"/api/v1/canvases/{draft.pk}/steps/",
                        '{"ad_account": "%s", "audience": {"new": "VIP\\u0000"}}' % ad_account.pinterest_id)
    assert response.status_code == 400
    assert "audience" in error_of(response)["details"]["fields"]
    assert not Audience.objects.exists()


@pytest.mark.parametrize(
    "query, status",
    [
        ({"ad_account": "'"}, 400),
        ({"ad_account": "1' OR '1'='1"}, 400),
        ({"ad_account": ["1", "2"]}, None),  # the last value counts, like any Django form
        ({}, 400),
        ({"ad_account": "{ad_account}", "bookmark": "\x00"}, 400),
        ({"ad_account": "{ad_account}", "bookmark": "x" * 2001}, 400),
        ({"ad_account": "{ad_account}", "bookmark": "not-a-bookmark"}, 200),
        ({"ad_account": "{ad_account}", "q": "\x00%" + "x" * 5000}, 200),
    ],
)
def test_the_admin_audience_search_answers_garbage_with_a_4xx(client, alice, draft, ad_account, sandbox, query, status):
    from django.urls import reverse

    from audiences import services

    step = services.step_create_audience_sync(canvas=draft, ad_account=ad_account)
    client.force_login(alice)
    query = {k: (v.format(ad_account=ad_account.pk) if isinstance(v, str) and "{" in v else v) for k, v in query.items()}

    response = client.get(reverse("admin:audiences_step_audience_search", args=[step.pk]), query)

    assert response.status_code < 500
    if status is not None:
        assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"


def test_the_admin_audience_search_reads_undecodable_bytes_as_text(client, alice, draft, ad_account, sandbox):
    from django.urls import reverse

    from audiences import services

    step = services.step_create_audience_sync(canvas=draft, ad_account=ad_account)
    client.force_login(alice)
    url = reverse("admin:audiences_step_audience_search", args=[step.pk])

    assert client.get(f"{url}?ad_account={ad_account.pk}&q=%ED%A0%80%FF").status_code == 200
    assert client.get(f"{url}?ad_account=%ED%A0%80").status_code == 400
