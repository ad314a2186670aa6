"""Partners keep a segment in step through the API: open a snapshot, send pages (each idempotent), commit."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audiences import tasks
from audiences.models import Snapshot
from audiences.sending.pump import send_due_now
from integrations.api_keys import api_key_create
from tests.api_support import (  # noqa: F401
    _fresh_throttle_counts,
    acme_api,
    client_with_key,
    error_of,
    globex_api,
)
from tests.segments_support import (
    emails,
    list_records,
    members,
    segment_of,
    segments,
    snapshot_send,
)

pytestmark = pytest.mark.django_db


def snapshot_url(segment, snapshot_id, action=""):
    return f"/api/v1/segments/{segment.pk}/snapshots/{snapshot_id}/{action}"


def test_a_partner_sends_a_snapshot_in_idempotent_pages_and_commits_it(sandbox, acme_api, add_canvas):
    created = acme_api.post("/api/v1/segments/", {"step": add_canvas.steps.get().pk, "name": "VIP"}, format="json")
    assert created.status_code == 201, created.json()
    segment_id = created.json()["id"]
    opened = acme_api.post(f"/api/v1/segments/{segment_id}/snapshots/", format="json")
    assert opened.status_code == 201 and opened.json()["state"] == "open"
    url = f"/api/v1/segments/{segment_id}/snapshots/{opened.json()['id']}/"

    for page in range(3):
        body = {"members": members(range(page * 100, page * 100 + 100))}
        first = acme_api.post(url + "members/", body, format="json", HTTP_IDEMPOTENCY_KEY=f"page-{page}")
        again = acme_api.post(url + "members/", body, format="json", HTTP_IDEMPOTENCY_KEY=f"page-{page}")
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() == {"accepted": 100, "duplicates_folded": 0}
        assert again["Idempotent-Replayed"] == "true"
    reused = acme_api.post(url + "members/", {"members": members(range(5))}, format="json",
                           HTTP_IDEMPOTENCY_KEY="page-0")
    assert reused.status_code == 422 and error_of(reused)["code"] == "idempotency_key_reused"

    committed = acme_api.post(url + "commit/", {}, format="json")
    assert committed.status_code == 200, committed.json()
    assert {k: committed.json()[k] for k in ("state", "rows", "members", "added", "removed")} == {
        "state": "committed", "rows": 300, "members": 300, "added": 300, "removed": 0}
    send_due_now()
    assert list_records(sandbox) == emails(range(300))
    assert acme_api.get(url).json()["state"] == "committed"
    assert acme_api.get(f"/api/v1/segments/{segment_id}/").json()["members"] == 300


def test_a_bad_row_refuses_the_page_naming_it(acme_api, add_canvas):
    segment = segment_of(add_canvas)
    snapshot = acme_api.post(f"/api/v1/segments/{segment.pk}/snapshots/").json()
    rows = members(range(3)) + [{"external_id": "x", "email": "not-an-email"}]
    response = acme_api.post(snapshot_url(segment, snapshot["id"], "members/"), {"members": rows}, format="json")
    assert response.status_code == 400
    assert "members[3].email" in error_of(response)["details"]["fields"]
    assert acme_api.get(snapshot_url(segment, snapshot["id"])).json()["rows"] == 0


def test_a_large_removal_waits_and_only_a_full_key_confirms_it(sandbox, acme, acme_api, add_canvas):
    segment = segment_of(add_canvas)
    snapshot_send(segment, range(100))
    snapshot = acme_api.post(f"/api/v1/segments/{segment.pk}/snapshots/").json()
    acme_api.post(snapshot_url(segment, snapshot["id"], "members/"), {"members": members(range(5))}, format="json")

    waiting = acme_api.post(snapshot_url(segment, snapshot["id"], "commit/"), {}, format="json")
    assert waiting.json()["state"] == "waiting" and waiting.json()["removed"] == 95

    _, entries_key = api_key_create(workspace=acme, name="feed", scope="entries")
    feed = client_with_key(entries_key)
    refused = feed.post(snapshot_url(segment, snapshot["id"], "commit/"), {"confirm": True}, format="json")
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    assert Snapshot.objects.get(pk=snapshot["id"]).state == Snapshot.State.WAITING

    confirmed = acme_api.post(snapshot_url(segment, snapshot["id"], "commit/"), {"confirm": True}, format="json")
    assert confirmed.json()["state"] == "committed"


def test_an_entries_key_feeds_snapshots_but_cannot_create_segments(acme, add_canvas):
    _, plaintext = api_key_create(workspace=acme, name="feed", scope="entries")
    feed = client_with_key(plaintext)
    response = feed.post("/api/v1/segments/", {"step": add_canvas.steps.get().pk}, format="json")
    assert response.status_code == 403
    segment = segment_of(add_canvas)
    opened = feed.post(f"/api/v1/segments/{segment.pk}/snapshots/")
    assert opened.status_code == 201
    assert feed.post(snapshot_url(segment, opened.json()["id"], "members/"), {"members": members(range(3))},
                     format="json").status_code == 200


def test_a_read_key_reads_snapshots_and_changes_nothing(acme, add_canvas):
    _, plaintext = api_key_create(workspace=acme, name="dashboard", scope="read")
    reader = client_with_key(plaintext)
    segment = segment_of(add_canvas)
    assert reader.get("/api/v1/segments/").json()["results"][0]["id"] == segment.pk
    assert reader.post(f"/api/v1/segments/{segment.pk}/snapshots/").status_code == 403
    assert not Snapshot.objects.exists()


def test_another_workspaces_segment_answers_404(globex_api, add_canvas):
    segment = segment_of(add_canvas)
    assert globex_api.get(f"/api/v1/segments/{segment.pk}/").status_code == 404
    assert globex_api.post(f"/api/v1/segments/{segment.pk}/snapshots/").status_code == 404
    assert globex_api.get("/api/v1/segments/").json()["results"] == []


def test_a_large_snapshot_is_committed_by_a_worker_and_the_call_answers_202(sandbox, acme_api, add_canvas, settings,
                                                                          monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    settings.SEGMENT_COMMIT_INLINE_ROWS = 100  # "large" for this test: 300 rows
    queued = []
    monkeypatch.setattr(segments, "async_task", lambda name, *args: queued.append((name, args)))
    segment = segment_of(add_canvas)
    snapshot = acme_api.post(f"/api/v1/segments/{segment.pk}/snapshots/").json()
    for page in range(3):
        acme_api.post(snapshot_url(segment, snapshot["id"], "members/"),
                      {"members": members(range(page * 100, page * 100 + 100))}, format="json")

    with django_capture_on_commit_callbacks(execute=True):
        answer = acme_api.post(snapshot_url(segment, snapshot["id"], "commit/"), {}, format="json")
    assert answer.status_code == 202 and answer.json()["state"] == "committing"
    assert queued == [("audiences.tasks.snapshot_commit_continue", (snapshot["id"],))]
    send_due_now()
    assert list_records(sandbox) == set()  # nothing written before the worker counts it
    assert acme_api.post(snapshot_url(segment, snapshot["id"], "members/"), {"members": members(range(3))},
                         format="json").status_code == 409

    # The worker's task dies before it starts: the sweep queues the commit again once it is stale.
    assert segments.snapshots_resume() == 0
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert segments.snapshots_resume() == 1
    tasks.snapshot_commit_continue(queued[-1][1][0])
    send_due_now()

    done = acme_api.get(snapshot_url(segment, snapshot["id"])).json()
    assert (done["state"], done["members"], done["added"]) == ("committed", 300, 300)
    assert list_records(sandbox) == emails(range(300))


def test_a_large_removal_committed_by_a_worker_still_waits_for_confirmation(sandbox, acme_api, add_canvas, settings,
                                                                           monkeypatch):
    monkeypatch.setattr(segments, "async_task", lambda name, *args: None)
    segment = segment_of(add_canvas)
    snapshot_send(segment, range(300))
    send_due_now()
    settings.SEGMENT_COMMIT_INLINE_ROWS = 10
    snapshot = acme_api.post(f"/api/v1/segments/{segment.pk}/snapshots/").json()
    acme_api.post(snapshot_url(segment, snapshot["id"], "members/"), {"members": members(range(20))}, format="json")

    assert acme_api.post(snapshot_url(segment, snapshot["id"], "commit/"), {}, format="json").status_code == 202
    tasks.snapshot_commit_continue(snapshot["id"])

    waiting = acme_api.get(snapshot_url(segment, snapshot["id"])).json()
    assert waiting["state"] == "waiting" and waiting["removed"] == 280
    assert list_records(sandbox) == emails(range(300))
