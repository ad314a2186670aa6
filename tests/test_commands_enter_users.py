"""Staff enter users from a file: batches, a progress file, resuming, and bad rows named."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audiences import services
from audiences.models import SyncRecord
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def write_csv(path, users, extra_column=False):
    header = "external_id,email,ios_idfa,android_aid" + (",plan" if extra_column else "")
    lines = [header]
    for u in users:
        line = ",".join(u.get(k, "").strip() for k in ("external_id", "email", "ios_idfa", "android_aid"))
        lines.append(line + (",gold" if extra_column else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*args):
    out = StringIO()
    call_command("enter_users", *[str(a) for a in args], "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_enters_a_csv_file_in_batches(tmp_path, add_canvas):
    path = write_csv(tmp_path / "users.csv", make_users(1200, idfa=True), extra_column=True)
    output = run(path, "--canvas", add_canvas.pk, "--batch-size", 500)
    assert "Entered 1,200 users" in output
    assert "1,200 pending" in output
    assert SyncRecord.objects.filter(step__canvas=add_canvas).count() == 1200
    state = json.loads((tmp_path / "users.csv.progress.json").read_text())
    assert state["next_row"] == 1201 and state["finished"] is True


def test_it_enters_a_json_lines_file(tmp_path, add_canvas):
    path = tmp_path / "users.jsonl"
    path.write_text("\n".join(json.dumps(u) for u in make_users(30)) + "\n\n")
    assert "Entered 30 users" in run(path, "--canvas", add_canvas.pk)
    assert SyncRecord.objects.count() == 30


def test_a_bad_row_refuses_the_whole_file_with_its_row_and_line(tmp_path, add_canvas):
    users = make_users(1000)
    users[742]["email"] = "broken"
    path = write_csv(tmp_path / "users.csv", users)
    with pytest.raises(CommandError, match=r"Row 743: not an email address \(line 744 of users.csv\)\. "
                                           r"Nothing was entered"):
        run(path, "--canvas", add_canvas.pk, "--batch-size", 250)
    assert SyncRecord.objects.count() == 0  # checked whole before the first batch

    users[742]["email"] = "fixed@example.com"
    write_csv(path, users)
    output = run(path, "--canvas", add_canvas.pk, "--batch-size", 250)
    assert "Entered 1,000 users" in output
    assert SyncRecord.objects.count() == 1000
    assert SyncRecord.objects.values("external_id").distinct().count() == 1000

    with pytest.raises(CommandError, match="entered completely"):
        run(path, "--canvas", add_canvas.pk)


def test_a_batch_entered_just_before_a_crash_is_not_entered_again(tmp_path, add_canvas):
    path = write_csv(tmp_path / "users.csv", make_users(300))
    run(path, "--canvas", add_canvas.pk, "--batch-size", 100)
    # As if the process died after committing the last batch but before saving its progress.
    progress = tmp_path / "users.csv.progress.json"
    state = json.loads(progress.read_text())
    progress.write_text(json.dumps({**state, "next_row": 201, "finished": False}))

    output = run(path, "--canvas", add_canvas.pk, "--batch-size", 100)
    assert "100 of them had been entered before an interruption" in output
    assert SyncRecord.objects.count() == 300


def test_resume_from_and_restart(tmp_path, add_canvas):
    path = write_csv(tmp_path / "users.csv", make_users(100))
    run(path, "--canvas", add_canvas.pk, "--resume-from", 61)
    assert sorted(SyncRecord.objects.values_list("external_id", flat=True)) == sorted(
        f"user-{i}" for i in range(60, 100))
    run(path, "--canvas", add_canvas.pk, "--restart")
    assert SyncRecord.objects.count() == 140


def test_it_refuses_an_inactive_canvas_or_a_file_without_external_id(tmp_path, add_canvas, acme):
    draft = services.canvas_create(workspace=acme, name="Draft")
    path = write_csv(tmp_path / "users.csv", make_users(3))
    with pytest.raises(CommandError, match="launch it"):
        run(path, "--canvas", draft.pk)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,email\n1,a@b.test\n")
    with pytest.raises(CommandError, match="external_id column"):
        run(bad, "--canvas", add_canvas.pk)
    assert not SyncRecord.objects.exists()
