"""Every list pages one way: `{"results", "next_cursor"}`, `?cursor=` for the next page, `page_size` honoured."""

from __future__ import annotations

import pytest

from audiences import services
from tests.api_support import _fresh_throttle_counts, acme_api, error_of, pinterest_audience  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def walk(api, url: str, params: dict) -> list[dict]:
    """Every page of a list, following next_cursor until it is null."""
    pages, cursor = [], None
    while True:
        response = api.get(url, {**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        page = response.json()
        assert set(page) == {"results", "next_cursor"}
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str) and "/" not in cursor  # a token, not a URL
        assert len(pages) < 50


def test_a_search_gives_page_size_audiences_a_page(acme_api, sandbox, ad_account):
    for name in ("Buyers 0", "Newsletter", "Buyers 1", "Buyers 2", "Buyers 3", "Lapsed"):
        pinterest_audience(sandbox, ad_account, name)
    url = f"/api/v1/ad-accounts/{ad_account.pinterest_id}/audiences/"

    pages = walk(acme_api, url, {"search": "buyers", "page_size": 1})
    assert [len(p["results"]) for p in pages] == [1, 1, 1, 1]
    assert sorted(a["name"] for p in pages for a in p["results"]) == ["Buyers 0", "Buyers 1", "Buyers 2", "Buyers 3"]

    pages = walk(acme_api, url, {"search": "buyers", "page_size": 3})
    assert [len(p["results"]) for p in pages] == [3, 1]

    pages = walk(acme_api, url, {"page_size": 4})
    assert all(len(p["results"]) <= 4 for p in pages)
    assert len({a["id"] for p in pages for a in p["results"]}) == 6


def test_the_cursor_carries_the_search(acme_api, sandbox, ad_account):
    for name in ("Buyers 0", "Newsletter", "Buyers 1"):
        pinterest_audience(sandbox, ad_account, name)
    url = f"/api/v1/ad-accounts/{ad_account.pinterest_id}/audiences/"
    first = acme_api.get(url, {"search": "buyers", "page_size": 1}).json()

    rest = acme_api.get(url, {"cursor": first["next_cursor"], "page_size": 5}).json()
    assert [a["name"] for a in first["results"] + rest["results"]] == ["Buyers 0", "Buyers 1"]
    assert rest["next_cursor"] is None

    other = acme_api.get(url, {"cursor": first["next_cursor"], "search": "news"})
    assert other.status_code == 400
    assert "cursor" in error_of(other)["details"]["fields"]


@pytest.mark.parametrize("cursor", ["garbage", "e30", "eyJiIjpudWxsLCJzIjotMSwicSI6IiJ9", "%%%", "a" * 3000])
def test_a_cursor_that_was_not_given_is_a_400(acme_api, ad_account, cursor):
    for url in (f"/api/v1/ad-accounts/{ad_account.pinterest_id}/audiences/", "/api/v1/canvases/"):
        response = acme_api.get(url, {"cursor": cursor})
        assert response.status_code == 400, (url, cursor)
        assert error_of(response)["details"]["fields"]["cursor"]


def test_canvases_and_records_page_the_same_way(acme_api, acme, add_canvas):
    for i in range(4):
        services.canvas_create(workspace=acme, name=f"Canvas {i}")
    pages = walk(acme_api, "/api/v1/canvases/", {"page_size": 2})
    assert [len(p["results"]) for p in pages] == [2, 2, 1]
    assert [c["name"] for c in pages[0]["results"]] == ["Canvas 3", "Canvas 2"]

    services.users_enter(canvas=add_canvas, users=make_users(5))
    step = add_canvas.steps.get()
    pages = walk(acme_api, f"/api/v1/steps/{step.pk}/records/", {"page_size": 2, "state": "pending"})
    assert [r["external_id"] for p in pages for r in p["results"]] == [f"user-{i}" for i in range(5)]


def test_the_schema_describes_one_paging_style(acme_api):
    schema = acme_api.get("/api/v1/schema/?format=json").json()
    components = schema["components"]["schemas"]
    listed = []
    for path, item in schema["paths"].items():
        for operation in item.values():
            names = {p["name"] for p in operation.get("parameters", [])}
            if "cursor" not in names:
                continue
            listed.append(operation["operationId"])
            assert "page_size" in names
            ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            page = components[ref.rsplit("/", 1)[1]]
            assert set(page["properties"]) == {"results", "next_cursor"}, path
            assert set(page["required"]) == {"results", "next_cursor"}, path
            assert page["properties"]["next_cursor"] == {
                "type": "string", "nullable": True, "description": page["properties"]["next_cursor"]["description"]}
    assert sorted(listed) == ["ad_account_audiences_list", "audit_events_list", "canvases_list",
                              "segments_list", "segments_snapshots_list", "steps_records_list"]
    text = str(schema)
    for old in ("next_bookmark", "'bookmark'", "'next'", "'previous'"):
        assert old not in text


def test_a_steps_records_of_every_state_page_in_entry_order_each_once(acme_api, sandbox, add_canvas):
    from audiences.sending.pump import send_due_now

    services.users_enter(canvas=add_canvas, users=make_users(9))
    services.users_enter(canvas=add_canvas, users=make_users(6, start=100, email=False))  # not synced
    send_due_now()
    services.users_enter(canvas=add_canvas, users=make_users(5, start=200))  # still pending
    step = add_canvas.steps.get()

    pages = walk(acme_api, f"/api/v1/steps/{step.pk}/records/", {"page_size": 4})

    ids = [r["external_id"] for p in pages for r in p["results"]]
    assert ids == ([f"user-{i}" for i in range(9)] + [f"user-{i}" for i in range(100, 106)]
                   + [f"user-{i}" for i in range(200, 205)])
    assert [len(p["results"]) for p in pages] == [4, 4, 4, 4, 4]
    assert {r["state"] for p in pages for r in p["results"]} == {"synced", "not_synced", "pending"}
