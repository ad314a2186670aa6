"""Partners enter up to 10,000 users per call: all or nothing, fast, and safe to retry."""

import hashlib
import json
import time

import pytest
from django.db import connection

from audiences.models import IdempotentRequest, SyncRecord
from tests.api_support import _fresh_throttle_counts, acme_api, error_of  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def entries_url(canvas):
    return f"/api/v1/canvases/{canvas.pk}/entries/"


def test_it_accepts_10000_users_in_one_call_in_under_2_seconds(acme_api, add_canvas):
    users = make_users(10_000, idfa=True, aaid=True)
    started = time.perf_counter()
    response = acme_api.post(entries_url(add_canvas), {"users": users}, format="json")
    elapsed = time.perf_counter() - started
    assert response.status_code == 202, response.json()
    assert response.json() == {"entered": 10_000, "pending": 10_000, "not_synced": 0, "already_in_audience": 0,
                               "waiting_in_delay": 0, "exited": 10_000, "duplicates_folded": 0}
    assert SyncRecord.objects.filter(step__canvas=add_canvas).count() == 10_000
    assert elapsed < 2.0, f"10,000 users took {elapsed:.2f} s on {connection.vendor}"


def test_more_than_10000_users_is_refused(acme_api, add_canvas):
    response = acme_api.post(entries_url(add_canvas), {"users": make_users(10_001)}, format="json")
    assert response.status_code == 400
    assert "10000" in error_of(response)["details"]["fields"]["users"][0]
    assert not SyncRecord.objects.exists()


@pytest.mark.parametrize(
    "bad_user, field",
    [
        ({"external_id": "x", "email": "not-an-email"}, "email"),
        ({"external_id": "x", "ios_idfa": "1234"}, "ios_idfa"),
        ({"external_id": "x", "android_aid": "zzzz"}, "android_aid"),
        ({"email": "a@b.test"}, "external_id"),
        ({"external_id": "   "}, "external_id"),
        ({"external_id": 17}, "external_id"),
        ({"external_id": "x", "email": 5}, "email"),
        ({"external_id": "x", "phone": "+33"}, "phone"),
    ],
)
def test_one_bad_row_refuses_the_call_naming_row_and_field(acme_api, add_canvas, bad_user, field):
    users = make_users(500)
    users[321] = bad_user
    response = acme_api.post(entries_url(add_canvas), {"users": users}, format="json")
    assert response.status_code == 400, response.json()
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["details"]["row"] == 321
    assert error["details"]["field"] == field
    assert error["message"].startswith(f"users[321].{field}: ")
    assert not SyncRecord.objects.exists()


def test_every_bad_row_is_listed(acme_api, add_canvas):
    users = make_users(10)
    users[2] = {"external_id": ""}
    users[7] = "user-7"
    error = error_of(acme_api.post(entries_url(add_canvas), {"users": users}, format="json"))
    assert set(error["details"]["fields"]) == {"users[2].external_id", "users[7]"}
    assert "1 more problem" in error["message"]


def test_a_retry_with_the_same_idempotency_key_enters_nobody_twice(acme_api, add_canvas):
    body = {"users": make_users(250)}
    first = acme_api.post(entries_url(add_canvas), body, format="json", HTTP_IDEMPOTENCY_KEY="batch-0001")
    assert first.status_code == 202
    again = acme_api.post(entries_url(add_canvas), body, format="json", HTTP_IDEMPOTENCY_KEY="batch-0001")
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert SyncRecord.objects.filter(step__canvas=add_canvas).count() == 250

    # The same users under a new key are a new request: they enter again.
    other = acme_api.post(entries_url(add_canvas), body, format="json", HTTP_IDEMPOTENCY_KEY="batch-0002")
    assert other.status_code == 202
    assert SyncRecord.objects.filter(step__canvas=add_canvas).count() == 500


def test_a_retry_of_a_call_answered_before_an_upgrade_is_still_recognised(acme_api, add_canvas):
    # The fingerprint stored with an answer has always been SHA-256 of this canonical JSON of the checked
    # users: a client retrying across an upgrade must get its answer back, not a 422.
    users = [{"external_id": ' Zoë "quoted" \\ 東京 ', "email": "  Zoë@Example.COM "},
             {"external_id": "plain-2", "email": "two@example.com", "ios_idfa": "0000000a-aaaa-bbbb-cccc-ddddeeeeffff"}]
    checked = [{"external_id": 'Zoë "quoted" \\ 東京', "email": "zoë@example.com"},
               {"external_id": "plain-2", "email": "two@example.com", "ios_idfa": "0000000A-AAAA-BBBB-CCCC-DDDDEEEEFFFF"}]
    canonical = json.dumps({"canvas": add_canvas.pk, "users": checked}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    stored = {"entered": 2, "pending": 2, "not_synced": 0, "already_in_audience": 0, "waiting_in_delay": 0,
              "exited": 2, "duplicates_folded": 0}
    IdempotentRequest.objects.create(workspace_id=add_canvas.workspace_id, key="before-upgrade",
                                     fingerprint=hashlib.sha256(canonical.encode()).hexdigest(), status_code=202,
                                     response=stored)

    again = acme_api.post(entries_url(add_canvas), {"users": users}, format="json",
                          HTTP_IDEMPOTENCY_KEY="before-upgrade")
    assert again.status_code == 202, again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not SyncRecord.objects.exists()


def test_a_reused_idempotency_key_with_another_body_is_refused(acme_api, add_canvas):
    acme_api.post(entries_url(add_canvas), {"users": make_users(3)}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    response = acme_api.post(entries_url(add_canvas), {"users": make_users(4)}, format="json",
                             HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 422
    assert error_of(response)["code"] == "idempotency_key_reused"
    assert SyncRecord.objects.count() == 3


def test_a_refused_call_stores_no_key_so_the_corrected_call_goes_through(acme_api, add_canvas):
    users = make_users(3)
    users[1]["email"] = "broken"
    bad = acme_api.post(entries_url(add_canvas), {"users": users}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert bad.status_code == 400
    assert not IdempotentRequest.objects.exists()
    users[1]["email"] = "fixed@example.com"
    good = acme_api.post(entries_url(add_canvas), {"users": users}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert good.status_code == 202
    assert SyncRecord.objects.count() == 3


def test_a_bad_idempotency_key_is_a_400(acme_api, add_canvas):
    response = acme_api.post(entries_url(add_canvas), {"users": make_users(1)}, format="json",
                             HTTP_IDEMPOTENCY_KEY="x" * 201)
    assert response.status_code == 400
    assert "Idempotency-Key" in error_of(response)["details"]["fields"]


def test_raw_identifiers_are_not_stored(acme_api, add_canvas):
    acme_api.post(entries_url(add_canvas), {"users": [{"external_id": "u1", "email": "Jane@Example.com"}]},
                  format="json", HTTP_IDEMPOTENCY_KEY="raw-check")
    record = SyncRecord.objects.get()
    assert "jane" not in str(list(SyncRecord.objects.values().get().values())).lower()
    assert len(record.email_hash) == 64
    assert "jane" not in str(IdempotentRequest.objects.values().get()).lower()
