"""Add people to a workspace's suppression list from a CSV file, or take them off: an import job.

    python manage.py suppress --workspace acme people.csv
    python manage.py suppress --workspace acme --remove people.csv
    cat people.csv | python manage.py suppress --workspace acme -

The header names any of external_id, email, ios_idfa, android_aid (read as
enter_users reads it); every row is checked first and one bad row changes
nothing. A file of any allowed size is listed in parts of 5,000.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audiences.management.import_runner import run_file
from audiences.models import ImportJob
from audiences.services import imports
from audiences.services.audit import acting
from integrations.models import Workspace


class Command(BaseCommand):
    help = ("Add people to the workspace's suppression list from a CSV (header: any of external_id, email, "
            "ios_idfa, android_aid), or take them off with --remove. Checked like an entry: one bad row "
            "changes nothing. Only hashes are stored; suppressed users in audiences are removed from them.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("csv", help="a CSV file, or - for standard input")
        parser.add_argument("--remove", action="store_true", help="take the people off the list")
        parser.add_argument("--yes", action="store_true", help="import the file even if it was imported within a day")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, workspace, csv, remove, yes, no_progress, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"No workspace {workspace!r}.")
        path = None if csv == "-" else Path(csv)
        if path is not None and not path.is_file():
            raise CommandError(f"Cannot read {csv}: no such file.")
        kind = ImportJob.Kind.UNSUPPRESS if remove else ImportJob.Kind.SUPPRESS
        with acting("command", "suppress"):
            job = run_file(self, path=path, stream=sys.stdin.buffer if path is None else None, workspace=found,
                           kind=kind, yes=yes, progress=not no_progress)
        self.stdout.write(imports.summary(job))
