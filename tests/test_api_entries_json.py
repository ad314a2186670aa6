"""The entry call reads its body with a faster parser: every body gets the answer the other endpoints give it."""

import pytest

from audiences.models import SyncRecord
from tests.api_support import _fresh_throttle_counts, acme_api, error_of  # noqa: F401

pytestmark = pytest.mark.django_db


def post_both(api, canvas, body: str):
    """The same body to the entry call and to the canvas list (the standard parser): both answers."""
    entries = api.generic("POST", f"/api/v1/canvases/{canvas.pk}/entries/", body.encode("utf-8"),
                          content_type="application/json")
    other = api.generic("POST", "/api/v1/canvases/", body.encode("utf-8"), content_type="application/json")
    return entries, other


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("body", [
    '{"users": NaN}',
    '{"users": [{"external_id": "a", "email": Infinity}]}',
    '{"users": [',
    '\ufeff{"users": []}',
    '{"users": ["\\ud800"]}',
])
def test_a_body_refused_as_json_is_refused_with_the_same_message_as_elsewhere(acme_api, add_canvas, body):
    entries, other = post_both(acme_api, add_canvas, body)
    assert entries.status_code == other.status_code == 400
    if "ud800" not in body:  # a surrogate is named by where it is, which differs between the two bodies
        assert error_of(entries)["message"] == error_of(other)["message"]
    assert not SyncRecord.objects.exists()


def test_nesting_is_refused_past_32_levels_and_only_then(acme_api, add_canvas):
    deep, other = post_both(acme_api, add_canvas, f'{{"users": {nested(32)}}}')
    assert deep.status_code == other.status_code == 400
    assert "nests deeper than 32 levels" in error_of(deep)["message"]
    assert error_of(deep)["message"] == error_of(other)["message"]

    within, _ = post_both(acme_api, add_canvas, f'{{"users": {nested(31)}}}')
    assert within.status_code == 400
    assert "nests deeper" not in error_of(within)["message"]  # refused for what it holds, not its depth


@pytest.mark.parametrize("value", ["123456789012345678901234567890", "1e999"])
def test_a_number_beyond_a_double_is_refused_naming_the_row_and_field(acme_api, add_canvas, value):
    body = f'{{"users": [{{"external_id": "a"}}, {{"external_id": {value}}}]}}'
    entries, _ = post_both(acme_api, add_canvas, body)
    assert entries.status_code == 400
    error = error_of(entries)
    assert (error["details"]["row"], error["details"]["field"]) == (1, "external_id")


def test_text_beyond_the_basic_plane_goes_through(acme_api, add_canvas):
    body = '{"users": [{"external_id": "caf\\u00e9-\\ud83d\\ude00", "email": "a@example.com"}]}'
    entries, _ = post_both(acme_api, add_canvas, body)
    assert entries.status_code == 202, entries.content
    assert SyncRecord.objects.get().external_id == "café-😀"
