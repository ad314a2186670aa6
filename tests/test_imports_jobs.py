"""Files of users are jobs: checked whole, entered in batches, resumed after a worker dies, kept as history."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audiences.models import IdempotentRequest, ImportJob, SyncRecord
from audiences.services import imports

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _imports_root(settings, tmp_path):
    settings.IMPORTS_ROOT = tmp_path / "imports"
    settings.IMPORT_BATCH_SIZE = 100


def users_csv(n: int, *, start: int = 0, bad: dict[int, str] | None = None) -> bytes:
    """external_id,email rows; `bad` maps a file line (header = line 1) to a broken email."""
    lines = ["external_id,email"]
    for i in range(start, start + n):
        line = len(lines) + 1
        lines.append(f"user-{i},{(bad or {}).get(line, f'user{i}@example.org')}")
    return ("\n".join(lines) + "\n").encode()


def run_to_end(job: ImportJob) -> ImportJob:
    imports.import_run(job_id=job.pk, seconds=0)
    job.refresh_from_db()
    return job


def test_it_checks_the_whole_file_then_enters_every_user_once(acme, add_canvas, alice, settings):
    job = imports.import_create(workspace=acme, kind=ImportJob.Kind.ENTRIES, canvas=add_canvas,
                                file=io.BytesIO(users_csv(1050)), file_name="spring.csv", user=alice)
    assert job.state == ImportJob.State.QUEUED and job.size > 0 and len(job.fingerprint) == 64
    job = run_to_end(job)
    assert job.state == ImportJob.State.DONE
    assert (job.rows_read, job.rows_entered, job.rows_refused) == (1050, 1050, 0)
    assert job.result["pending"] == 1050 and job.checkpoint == 1051
    assert SyncRecord.objects.filter(step__canvas=add_canvas).count() == 1050
    assert not list((settings.IMPORTS_ROOT).iterdir())  # the stored file is deleted once the job ends
    assert "1,050 users entered" in job.message


def test_bad_rows_are_all_named_and_nobody_enters(acme, add_canvas):
    data = users_csv(1200, bad={2: "nope", 500: "also-bad", 1199: "@"})
    job = run_to_end(imports.import_create(workspace=acme, kind=ImportJob.Kind.ENTRIES, canvas=add_canvas,
                                           file=io.BytesIO(data), file_name="bad.csv"))
    assert job.state == ImportJob.State.REFUSED
    assert [(e["line"], e["field"], e["value"]) for e in job.errors] == [
        (2, "email", "nope"), (500, "email", "also-bad"), (1199, "email", "@")]
    assert job.rows_refused == 3 and job.rows_entered == 0
    assert not SyncRecord.objects.exists()


def test_a_worker_killed_mid_import_resumes_and_enters_everyone_exactly_once(acme, add_canvas):
    job = imports.import_create(workspace=acme, kind=ImportJob.Kind.ENTRIES, canvas=add_canvas,
                                file=io.BytesIO(users_csv(1000)), file_name="big.csv")
    seen = []

    def die_after_three_batches(progress: ImportJob) -> None:
        if progress.state == ImportJob.State.ENTERING and progress.rows_entered:
            seen.append(progress.rows_entered)
            if len(seen) == 3:
                raise SystemExit("worker killed")

    with pytest.raises(SystemExit):
        imports.import_run(job_id=job.pk, seconds=0, progress=die_after_three_batches)
    job.refresh_from_db()
    assert job.state == ImportJob.State.ENTERING and job.rows_entered == 300
    # As if the worker had died after committing three batches but before saving any checkpoint.
    ImportJob.objects.filter(pk=job.pk).update(checkpoint=0, rows_entered=0, result={})
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert imports.imports_resume() == 1  # the watchdog queues the job again once its lease lapsed
        job = run_to_end(job)
    assert job.state == ImportJob.State.DONE and job.rows_entered == 1000
    records = SyncRecord.objects.filter(step__canvas=add_canvas)
    assert records.count() == 1000 and records.values("external_id").distinct().count() == 1000
    assert IdempotentRequest.objects.filter(key__startswith=f"import:{job.pk}:").count() == 10


def segment_csv(ids) -> bytes:
    return ("external_id,email\n" + "".join(f"m{i},m{i}@example.org\n" for i in ids)).encode()


def test_a_file_marked_as_the_whole_segment_adds_newcomers_and_removes_leavers(acme, add_canvas):
    from audiences.services.segments import segment_create

    segment = segment_create(step=add_canvas.steps.get())
    first = run_to_end(imports.import_create(workspace=acme, kind=ImportJob.Kind.SEGMENT, segment_id=segment.pk,
                                             file=io.BytesIO(segment_csv(range(300))), file_name="segment.csv"))
    assert first.state == ImportJob.State.DONE and first.result["added"] == 300, first.message
    second = run_to_end(imports.import_create(workspace=acme, kind=ImportJob.Kind.SEGMENT, segment_id=segment.pk,
                                              file=io.BytesIO(segment_csv(range(50, 330))), file_name="next.csv"))
    assert (second.result["added"], second.result["removed"]) == (30, 50), second.message
    assert "30 added and 50 removed" in second.message
    removes = SyncRecord.objects.filter(step__canvas=add_canvas, action="remove")
    assert sorted(removes.values_list("external_id", flat=True)) == sorted(f"m{i}" for i in range(50))
