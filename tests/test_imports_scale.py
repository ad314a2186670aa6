"""Big files: a million rows as a job in a worker process of its own, with bounded memory, progress that can
be read while it runs, and a worker killed mid-import whose job resumes without entering anyone twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from audiences.models import AuditEvent, ImportJob, SuppressedIdentifier, SyncRecord
from audiences.services import imports
from tests.process_support import database_url_for_another_process

REPO = Path(__file__).resolve().parent.parent
MEMORY_GROWTH_LIMIT_MB = 60  # the worker's peak over its start: a few batches, never the file
# The sizes a marketer's files reach: a million users (about 90 s on this 2-core machine) and 400,000 opt-outs
# (about 45 s, 5,000 a call). IMPORT_TEST_ROWS / IMPORT_TEST_SUPPRESSION_ROWS make them smaller for a quick run.
JOB_ROWS = int(os.environ.get("IMPORT_TEST_ROWS", "1000000"))
SUPPRESSION_ROWS = int(os.environ.get("IMPORT_TEST_SUPPRESSION_ROWS", "400000"))


def write_users(path: Path, rows: int, *, bad_lines: dict[int, str] | None = None) -> Path:
    bad_lines = bad_lines or {}
    with path.open("w") as out:
        out.write("external_id,email\n")
        for i in range(rows):
            line = i + 2  # the header is line 1
            out.write(f"u{i},{bad_lines.get(line, f'user{i}@example.com')}\n")
    return path


def start_worker(job: ImportJob, settings) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url_for_another_process(), "IMPORTS_ROOT": str(settings.IMPORTS_ROOT),
           "IMPORT_BATCH_SIZE": str(settings.IMPORT_BATCH_SIZE), "SYNC_SENDER_AUTOSTART": "0"}
    return subprocess.Popen([sys.executable, str(REPO / "tests" / "import_worker.py"), str(job.pk)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def imports_root(settings, tmp_path):
    settings.IMPORTS_ROOT = tmp_path / "imports"
    return settings.IMPORTS_ROOT


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_big_file_completes_as_a_job_with_progress_readable_and_memory_bounded(settings, imports_root, tmp_path,
                                                                               add_canvas):
    settings.IMPORT_BATCH_SIZE = 5000
    rows = JOB_ROWS
    job = imports.import_create(workspace=add_canvas.workspace, kind=ImportJob.Kind.ENTRIES, canvas=add_canvas,
                                file=write_users(tmp_path / "million.csv", rows), file_name="million.csv")
    worker = start_worker(job, settings)
    try:
        def status():
            job.refresh_from_db()
            return imports.import_status(job)

        # While the worker runs, the job's figures move, as its page shows them.
        checking = wait_for(lambda: (s := status())["state"] == "checking" and s["rows_read"] > 0 and s,
                            timeout=120, what="rows checked")
        entering = wait_for(lambda: (s := status())["state"] == "entering" and 0 < s["rows_entered"] < rows and s,
                            timeout=300, what="rows entered")
        assert checking["rows_read"] < rows and entering["rows_read"] == rows and not entering["finished"]
        out, err = worker.communicate(timeout=900)
    finally:
        worker.kill()
    assert worker.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    job.refresh_from_db()
    assert (job.state, job.rows_read, job.rows_entered, job.rows_refused) == ("done", rows, rows, 0)
    assert SyncRecord.objects.filter(step__canvas=add_canvas).count() == rows
    growth_mb = (report["peak_kb_after"] - report["peak_kb_before"]) / 1024
    assert growth_mb < MEMORY_GROWTH_LIMIT_MB, f"the worker grew by {growth_mb:.0f} MB for a {rows:,}-row file"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_import_resumes_and_enters_every_user_exactly_once(settings, imports_root, tmp_path,
                                                                             add_canvas):
    settings.IMPORT_BATCH_SIZE = 500
    rows = 20_000
    job = imports.import_create(workspace=add_canvas.workspace, kind=ImportJob.Kind.ENTRIES, canvas=add_canvas,
                                file=write_users(tmp_path / "users.csv", rows), file_name="users.csv")
    worker = start_worker(job, settings)
    try:
        def entered_some():
            job.refresh_from_db()
            return job.state == "entering" and job.rows_entered >= 2000

        wait_for(entered_some, timeout=300, what="a few batches entered")
    finally:
        worker.send_signal(signal.SIGKILL)  # no goodbye: the lease stays, the checkpoint is wherever it was
        worker.wait()
    job.refresh_from_db()
    assert job.state == "entering" and job.rows_entered < rows
    assert imports.imports_resume() == 0  # the dead worker's lease is still running

    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert imports.imports_resume() == 1
        imports.import_run(job_id=job.pk, seconds=0)
    job.refresh_from_db()
    assert (job.state, job.rows_entered) == ("done", rows)
    records = SyncRecord.objects.filter(step__canvas=add_canvas)
    assert records.count() == rows and records.values("external_id").distinct().count() == rows


@pytest.mark.slow
@pytest.mark.django_db
def test_bad_rows_on_lines_2_5000_and_999999_are_all_named_and_nobody_enters(settings, imports_root, tmp_path,
                                                                            add_canvas):
    path = write_users(tmp_path / "million.csv", 999_999, bad_lines={2: "nope", 5000: "not@", 999_999: "x@y"})
    job = imports.import_create(workspace=add_canvas.workspace, kind=ImportJob.Kind.ENTRIES, canvas=add_canvas,
                                file=path, file_name="million.csv")
    imports.import_run(job_id=job.pk, seconds=0)
    job.refresh_from_db()
    assert job.state == "refused" and job.rows_read == 999_999 and job.rows_refused == 3
    assert [(e["line"], e["field"], e["value"]) for e in job.errors] == [
        (2, "email", "nope"), (5000, "email", "not@"), (999_999, "email", "x@y")]
    assert not SyncRecord.objects.exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_a_suppression_file_of_400000_rows_is_listed_in_parts(settings, imports_root, tmp_path, acme):
    rows = SUPPRESSION_ROWS
    path = tmp_path / "optouts.csv"
    with path.open("w") as out:
        out.write("email\n")
        out.writelines(f"person{i}@example.org\n" for i in range(rows))
    job = imports.import_create(workspace=acme, kind=ImportJob.Kind.SUPPRESS, file=path, file_name="optouts.csv")
    imports.import_run(job_id=job.pk, seconds=0)
    job.refresh_from_db()
    assert job.state == "done", job.message
    assert job.result["listed"] == rows and "at most" not in job.message
    assert SuppressedIdentifier.objects.filter(workspace=acme).count() == rows
    parts = AuditEvent.objects.filter(workspace=acme, action="suppression.add")
    assert parts.count() == -(-rows // 5000)  # 5,000 entries a call, as the API allows
