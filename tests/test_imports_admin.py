"""A marketer uploads a file in the admin: it becomes a job whose page follows its progress, then its result."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audiences.models import ImportJob, SuppressedIdentifier, SyncRecord
from audiences.services import imports

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _imports_root(settings, tmp_path):
    settings.IMPORTS_ROOT = tmp_path / "imports"
    settings.IMPORT_BATCH_SIZE = 50


def upload(client, canvas, data: bytes, name="users.csv"):
    return client.post(reverse("admin:audiences_canvas_upload", args=[canvas.pk]),
                       {"users_csv": SimpleUploadedFile(name, data, "text/csv")})


def users(n: int) -> bytes:
    return ("External ID;E-mail\n" + "".join(f"u{i};u{i}@example.org\n" for i in range(n))).encode()


def worker_runs(job_id: int) -> None:
    """What the task queue's worker does with the job (a window, then its successor, to the end)."""
    imports.import_run(job_id=job_id, seconds=0)


def test_an_upload_goes_to_its_job_page_which_shows_progress_then_the_result(client, bob, add_canvas):
    client.force_login(bob)
    response = upload(client, add_canvas, users(120))
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("admin:audiences_importjob_change",
                                                                           args=[job.pk])
    page = client.get(response["Location"])
    assert page.status_code == 200 and "Queued" in page.content.decode()
    status_url = reverse("admin:audiences_importjob_status", args=[job.pk])
    assert 'data-status-url="' + status_url in page.content.decode()
    assert client.get(status_url).json()["state"] == "queued"

    worker_runs(job.pk)
    status = client.get(status_url).json()
    assert (status["state"], status["rows_read"], status["rows_entered"], status["finished"]) == ("done", 120, 120,
                                                                                                   True)
    page = client.get(response["Location"]).content.decode()
    assert "120 users entered: 120 pending" in page and "data-status-url" not in page
    assert SyncRecord.objects.filter(step__canvas=add_canvas).count() == 120

    history = client.get(reverse("admin:audiences_canvas_change", args=[add_canvas.pk])).content.decode()
    assert 'id="upload-history"' in history and "users.csv" in history and "bob@acme.test" in history


def test_a_file_with_bad_rows_enters_nobody_and_its_page_names_each(client, bob, add_canvas):
    client.force_login(bob)
    data = b"external_id,email\nu1,nope\nu2,u2@example.org\n,u3@example.org\nu4,u4@example.org\n"
    job_url = upload(client, add_canvas, data)["Location"]
    worker_runs(ImportJob.objects.get().pk)
    page = client.get(job_url).content.decode()
    assert "Refused" in page and 'id="import-errors"' in page
    assert "<td>2</td><td>email</td><td><code>nope</code></td>" in page
    assert "<td>4</td><td>external_id</td>" in page
    assert not SyncRecord.objects.exists()


def test_the_same_file_twice_within_a_day_asks_first(client, bob, add_canvas):
    client.force_login(bob)
    upload(client, add_canvas, users(10))
    worker_runs(ImportJob.objects.get().pk)
    second_url = upload(client, add_canvas, users(10), name="again.csv")["Location"]
    second = ImportJob.objects.latest("id")
    page = client.get(second_url).content.decode()
    assert second.state == "confirm" and "Import it again?" in page and 'id="import-confirm"' in page
    worker_runs(second.pk)  # nothing runs while it waits
    assert SyncRecord.objects.count() == 10

    client.post(reverse("admin:audiences_importjob_confirm", args=[second.pk]))
    worker_runs(second.pk)
    assert SyncRecord.objects.count() == 20

    third_url = upload(client, add_canvas, users(10))["Location"]
    third = ImportJob.objects.latest("id")
    client.post(reverse("admin:audiences_importjob_cancel", args=[third.pk]))
    third.refresh_from_db()
    assert third.state == "cancelled" and "Cancelled" in client.get(third_url).content.decode()
    assert SyncRecord.objects.count() == 20


def test_a_viewer_sees_the_history_and_pages_but_cannot_upload_or_confirm(client, bob, vera, add_canvas):
    client.force_login(bob)
    upload(client, add_canvas, users(5))
    worker_runs(ImportJob.objects.get().pk)
    upload(client, add_canvas, users(5))
    waiting = ImportJob.objects.latest("id")

    client.force_login(vera)
    canvas_page = client.get(reverse("admin:audiences_canvas_change", args=[add_canvas.pk])).content.decode()
    assert 'id="upload-history"' in canvas_page and 'id="upload-form"' not in canvas_page
    assert upload(client, add_canvas, users(3)).status_code == 403
    page = client.get(reverse("admin:audiences_importjob_change", args=[waiting.pk])).content.decode()
    assert "Import it again?" in page and 'id="import-confirm"' not in page
    assert client.post(reverse("admin:audiences_importjob_confirm", args=[waiting.pk])).status_code == 403
    assert ImportJob.objects.count() == 2 and SyncRecord.objects.count() == 5


def test_another_workspace_sees_none_of_it(client, bob, charlie, add_canvas):
    client.force_login(bob)
    upload(client, add_canvas, users(5))
    job = ImportJob.objects.get()
    client.force_login(charlie)
    for name in ("admin:audiences_importjob_change", "admin:audiences_importjob_status"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404
    assert client.post(reverse("admin:audiences_importjob_cancel", args=[job.pk])).status_code == 404
    listing = client.get(reverse("admin:audiences_importjob_changelist")).content.decode()
    assert "users.csv" not in listing


def test_the_suppression_upload_is_a_job_too(client, alice, acme):
    client.force_login(alice)
    response = client.post(reverse("admin:audiences_suppression_upload"),
                           {"workspace": acme.pk, "mode": "add", "text": "EMAIL\none@example.com\ntwo@example.com\n"})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and job.kind == "suppress"
    worker_runs(job.pk)
    assert "2 identifiers listed" in client.get(response["Location"]).content.decode()
    assert SuppressedIdentifier.objects.filter(workspace=acme).count() == 2


def test_a_marketer_uploads_a_file_as_the_whole_segment(client, bob, vera, add_canvas):
    from audiences.services.segments import segment_create

    segment = segment_create(step=add_canvas.steps.get())
    client.force_login(bob)
    page = client.get(reverse("admin:audiences_segment_change", args=[segment.pk])).content.decode()
    assert 'id="segment-upload"' in page
    url = reverse("admin:audiences_segment_upload", args=[segment.pk])
    response = client.post(url, {"members_csv": SimpleUploadedFile("segment.csv", users(40), "text/csv")})
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("admin:audiences_importjob_change", args=[job.pk])
    worker_runs(job.pk)
    assert "40 members, 40 added and 0 removed" in client.get(response["Location"]).content.decode()

    client.force_login(vera)
    assert client.post(url, {"members_csv": SimpleUploadedFile("s.csv", users(1), "text/csv")}).status_code == 403
