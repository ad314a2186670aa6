"""Staff import files with `enter_users` and `suppress`: the same job as an upload, run in the command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audiences import services
from audiences.models import ImportJob, SuppressedIdentifier, SyncRecord
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_batches(settings, tmp_path):
    settings.IMPORTS_ROOT = tmp_path / "imports"
    settings.IMPORT_BATCH_SIZE = 250


def write_csv(path, users, extra_column=False):
    header = "external_id,email,ios_idfa,android_aid" + (",plan" if extra_column else "")
    lines = [header]
    for u in users:
        line = ",".join(u.get(k, "").strip() for k in ("external_id", "email", "ios_idfa", "android_aid"))
        lines.append(line + (",gold" if extra_column else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def run(command, *args):
    out = StringIO()
    call_command(command, *[str(a) for a in args], "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_enters_a_csv_file_as_an_import_job(tmp_path, add_canvas):
    path = write_csv(tmp_path / "users.csv", make_users(1200, idfa=True), extra_column=True)
    output = run("enter_users", path, "--canvas", add_canvas.pk)
    assert "Entered 1,200 users" in output and "1,200 pending" in output
    assert "Columns ignored: plan." in output
    assert SyncRecord.objects.filter(step__canvas=add_canvas).count() == 1200
    job = ImportJob.objects.get()
    assert (job.canvas, job.state, job.file_name, job.actor) == (add_canvas, "done", "users.csv", "command")


def test_a_bad_row_refuses_the_whole_file_with_its_line_column_and_value(tmp_path, add_canvas):
    users = make_users(1000)
    users[742]["email"] = "broken"
    path = write_csv(tmp_path / "users.csv", users)
    with pytest.raises(CommandError, match=r"1 bad row: nobody was entered.*line 744, email \('broken'\): "
                                           r"not an email address"):
        run("enter_users", path, "--canvas", add_canvas.pk)
    assert SyncRecord.objects.count() == 0  # checked whole before the first batch

    users[742]["email"] = "fixed@example.com"
    write_csv(path, users)
    assert "Entered 1,000 users" in run("enter_users", path, "--canvas", add_canvas.pk)
    assert SyncRecord.objects.values("external_id").distinct().count() == 1000


def test_the_same_file_again_within_a_day_asks_for_yes(tmp_path, add_canvas):
    path = write_csv(tmp_path / "users.csv", make_users(100))
    run("enter_users", path, "--canvas", add_canvas.pk)
    with pytest.raises(CommandError, match="was imported on .* by command .*--yes"):
        run("enter_users", path, "--canvas", add_canvas.pk)
    assert SyncRecord.objects.count() == 100
    run("enter_users", path, "--canvas", add_canvas.pk, "--yes")
    assert SyncRecord.objects.count() == 200


def test_it_refuses_an_inactive_canvas_or_a_file_without_external_id(tmp_path, add_canvas, acme):
    draft = services.canvas_create(workspace=acme, name="Draft")
    path = write_csv(tmp_path / "users.csv", make_users(3))
    with pytest.raises(CommandError, match="launch it"):
        run("enter_users", path, "--canvas", draft.pk)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,email\n1,a@b.test\n")
    with pytest.raises(CommandError, match="external_id column"):
        run("enter_users", bad, "--canvas", add_canvas.pk)
    assert not SyncRecord.objects.exists()


def test_suppress_lists_a_file_bigger_than_one_call_in_parts(tmp_path, acme):
    path = tmp_path / "people.csv"
    path.write_text("Email\n" + "".join(f"person{i}@example.org\n" for i in range(12_000)))
    output = run("suppress", "--workspace", "acme", path)
    assert "12,000 identifiers listed" in output
    assert SuppressedIdentifier.objects.filter(workspace=acme).count() == 12_000
    assert "12,000 identifiers taken off" in run("suppress", "--workspace", "acme", "--remove", path)
    assert not SuppressedIdentifier.objects.exists()
