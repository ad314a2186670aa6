"""A step's seven numbers, its users' records (errored ones with reasons) and retrying them."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audiences import services
from audiences.models import SyncRecord
from tests.api_support import _fresh_throttle_counts, acme_api, error_of  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


@pytest.fixture
def errored_step(add_canvas):
    """A step with 3 errored users (13 hours passed without a send) and 2 pending ones."""
    step = add_canvas.steps.get()
    with time_machine.travel(timezone.now() - timedelta(hours=14), tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(3))
    services.users_enter(canvas=add_canvas, users=make_users(2, start=3))
    assert services.records_error_expired() == 3
    return step


def test_it_shows_the_seven_numbers_and_the_hourly_series(acme_api, errored_step):
    response = acme_api.get(f"/api/v1/steps/{errored_step.pk}/metrics/?hours=12")
    assert response.status_code == 200
    body = response.json()
    numbers = {k: body[k] for k in ("entered", "proceeded", "synced", "not_synced", "pending", "errored", "exited")}
    assert numbers == {"entered": 5, "proceeded": 0, "synced": 0, "not_synced": 0, "pending": 2, "errored": 3,
                       "exited": 5}
    assert body["step"] == errored_step.pk
    assert len(body["hourly"]) == 12
    assert sum(h["entered"] for h in body["hourly"]) == 2  # the other 3 entered 14 hours ago
    assert sum(h["errored"] for h in body["hourly"]) == 3
    assert acme_api.get(f"/api/v1/steps/{errored_step.pk}/metrics/?hours=0").status_code == 400


def test_it_lists_errored_users_with_reasons_and_no_identifiers(acme_api, errored_step):
    response = acme_api.get(f"/api/v1/steps/{errored_step.pk}/records/?state=errored")
    assert response.status_code == 200
    records = response.json()["results"]
    assert [r["external_id"] for r in records] == ["user-0", "user-1", "user-2"]
    for record in records:
        assert record["state"] == "errored"
        assert record["reason"].startswith("Gave up after 13 hours")
        assert record["errored_at"] and record["entered_at"]
        assert record["next_attempt_at"] is None
        assert set(record) == {"id", "external_id", "state", "attempts", "reason", "entered_at", "next_attempt_at",
                               "synced_at", "errored_at"}
    text = response.content.decode().lower()
    hashes = SyncRecord.objects.values_list("email_hash", flat=True)
    assert not any(h in text for h in hashes)
    assert "example.com" not in text


def test_it_pages_records_with_a_cursor(acme_api, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(5))
    step = add_canvas.steps.get()
    url = f"/api/v1/steps/{step.pk}/records/"
    first = acme_api.get(url, {"page_size": 2}).json()
    second = acme_api.get(url, {"page_size": 2, "cursor": first["next_cursor"]}).json()
    third = acme_api.get(url, {"page_size": 2, "cursor": second["next_cursor"]}).json()
    ids = [r["external_id"] for page in (first, second, third) for r in page["results"]]
    assert ids == [f"user-{i}" for i in range(5)]
    assert third["next_cursor"] is None
    assert acme_api.get(f"/api/v1/steps/{step.pk}/records/?state=lost").status_code == 400


def test_it_retries_errored_users(acme_api, errored_step):
    response = acme_api.post(f"/api/v1/steps/{errored_step.pk}/retry-errored/")
    assert response.status_code == 200
    assert response.json() == {"retried": 3}
    assert SyncRecord.objects.filter(step=errored_step, state=SyncRecord.State.PENDING).count() == 5
    assert acme_api.post(f"/api/v1/steps/{errored_step.pk}/retry-errored/").json() == {"retried": 0}


def test_delay_steps_have_no_records_to_list_or_retry(acme_api, acme):
    canvas = services.canvas_create(workspace=acme, name="Wait")
    delay = services.step_create_delay(canvas=canvas, seconds=60)
    for response in (acme_api.get(f"/api/v1/steps/{delay.pk}/records/"),
                     acme_api.post(f"/api/v1/steps/{delay.pk}/retry-errored/")):
        assert response.status_code == 409
        assert error_of(response)["code"] == "not_a_sync_step"
    metrics = acme_api.get(f"/api/v1/steps/{delay.pk}/metrics/").json()
    assert metrics["kind"] == "delay"
    assert metrics["entered"] == 0
