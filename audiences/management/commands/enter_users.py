"""Enter the users of a CSV file into a canvas: the same import job as an upload in the admin.

    python manage.py enter_users users.csv --canvas 12
    python manage.py enter_users users.csv --canvas 12 --yes     # the same file again within a day

The file has a header row naming `external_id` and any of `email`,
`ios_idfa`, `android_aid` (in any case, with spaces: "External ID"; other
columns are ignored and named), separated by commas, semicolons or tabs,
in UTF-8 with or without a byte order mark. Every row is checked first, by
the rule the API follows; a file with any bad row enters nobody, and every
bad row is named with its line (the header is line 1), column and value.
Then the users enter in batches (IMPORT_BATCH_SIZE), each batch once: run
the same command again after an interruption and it continues after the
last batch entered. The import shows in the canvas's upload history.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audiences.management.import_runner import run_file
from audiences.models import Canvas, ImportJob
from audiences.services.audit import acting


class Command(BaseCommand):
    help = "Enter users from a CSV file into a canvas: checked whole, then entered in batches, resumably."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--canvas", type=int, required=True, help="the canvas's id (it must be active)")
        parser.add_argument("--yes", action="store_true", help="import the file even if it was imported within a day")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, file: Path, canvas: int, yes: bool, no_progress: bool, **options):
        if not file.is_file():
            raise CommandError(f"No file {file}.")
        target = Canvas.objects.select_related("workspace").filter(pk=canvas).first()
        if target is None:
            raise CommandError(f"No canvas {canvas}.")
        if target.status != Canvas.Status.ACTIVE:
            raise CommandError(f"Canvas {canvas} (“{target}”) is {target.status}: launch it before entering users.")
        with acting("command", "enter_users"):
            job = run_file(self, path=file, workspace=target.workspace, kind=ImportJob.Kind.ENTRIES, canvas=target,
                           yes=yes, progress=not no_progress)
        result = job.result
        self.stdout.write(
            f"Entered {job.rows_entered:,} users into canvas {target.pk} (“{target}”): "
            f"{result.get('pending', 0):,} pending (on their way to Pinterest), {result.get('not_synced', 0):,} "
            f"not synced (no match field), {result.get('already_in_audience', 0):,} already in the audience; "
            f"{result.get('waiting_in_delay', 0):,} now wait in a delay step and {result.get('exited', 0):,} reached "
            "the canvas's last step."
        )
        if result.get("ignored_columns"):
            self.stdout.write(f"Columns ignored: {', '.join(result['ignored_columns'])}.")
        if result.get("duplicates_folded"):
            self.stdout.write(f"{result['duplicates_folded']:,} rows repeated a user of their batch (same "
                              "external_id and identifiers) and were folded into it.")
        self.stdout.write(f"Import #{job.pk}: its page in the admin keeps this result.")
