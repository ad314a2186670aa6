"""What `enter_users` and `suppress` share: a file run through the import pipeline in this process.

The same job as an upload (audiences.services.imports), run to its end here
with a progress bar, so staff see what a marketer sees on the job's page.
Running the same command again after an interruption continues the file's
unfinished job from its checkpoint; the same file again within a day of a
finished import asks for --yes first.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from audiences.models import ImportJob
from audiences.services import imports, imports_csv
from audiences.services.errors import ServiceError

State = ImportJob.State


def run_file(command, *, path: Path | None, stream=None, workspace, kind: str, canvas=None, yes: bool,
             progress: bool) -> ImportJob:
    """Import a file (or a stream, e.g. standard input) to its end; CommandError if it is refused or fails."""
    job = None
    if path is not None:
        fingerprint = imports.file_fingerprint(path)
        job = imports.import_unfinished(workspace=workspace, kind=kind, canvas=canvas, fingerprint=fingerprint)
        if job is not None:
            command.stdout.write(f"Continuing import #{job.pk} of this file after line {job.checkpoint:,}.")
    if job is None:
        try:
            job = imports.import_create(workspace=workspace, kind=kind, canvas=canvas, file=path or stream,
                                        file_name=path.name if path else "stdin.csv", actor="command",
                                        confirmed=yes)
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
    if job.state == State.CONFIRM:
        imports.import_cancel(job=job)
        raise CommandError(f"{job.message.replace(' Import it again?', '')} Run again with --yes to import it again.")
    with _Bar(command.stderr, enabled=progress) as bar:
        finished = imports.import_run(job_id=job.pk, seconds=0, progress=bar.update)
    if finished is None:
        raise CommandError(f"Import #{job.pk} is being run by another process; its page in the admin shows "
                           "its progress. Run the command again later to continue it if that process stopped.")
    job.refresh_from_db()
    if job.state == State.REFUSED:
        checked = imports_csv.Checked(errors=[imports_csv.RowError(**e) for e in job.errors],
                                      errors_more=max(0, job.rows_refused - len(job.errors)))
        detail = f" {imports_csv.errors_text(checked, shown=imports_csv.ERRORS_SHOWN)}." if job.errors else ""
        raise CommandError(f"{job.message}{detail}")
    if job.state != State.DONE:
        raise CommandError(job.message or f"Import #{job.pk} is {job.get_state_display().lower()}.")
    return job


class _Bar:
    """A rich progress bar: rows checked, then rows entered out of the rows read."""

    def __init__(self, stream, *, enabled: bool):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=Console(file=stream, quiet=not enabled))
        self.task = None
        self.state = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def update(self, job: ImportJob) -> None:
        if job.state != self.state:
            self.state = job.state
            if self.task is not None:
                self.progress.stop_task(self.task)
            total = job.rows_read if job.state == State.ENTERING else None
            self.task = self.progress.add_task("Checking rows" if job.state == State.CHECKING else "Entering",
                                               total=total)
        if job.state == State.CHECKING:
            self.progress.update(self.task, completed=job.rows_read)
        else:
            self.progress.update(self.task, completed=job.rows_entered)
