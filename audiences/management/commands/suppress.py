import sys

from django.core.management.base import BaseCommand, CommandError

from audiences import services
from audiences.services import suppression
from integrations.models import Workspace


class Command(BaseCommand):
    help = ("Add people to the workspace's suppression list from a CSV (header: any of external_id, email, "
            "ios_idfa, android_aid), or take them off with --remove. Checked like an entry: one bad row "
            "changes nothing. Only hashes are stored; suppressed users in audiences are removed from them.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("csv", help="a CSV file, or - for standard input")
        parser.add_argument("--remove", action="store_true", help="take the people off the list")

    def handle(self, *args, workspace, csv, remove, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"No workspace {workspace!r}.")
        try:
            if csv == "-":
                text = sys.stdin.read()
            else:
                with open(csv, encoding="utf-8-sig") as handle:
                    text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {csv}: {exc}") from None
        try:
            entries = suppression.entries_from_csv(text)
            for entry_row, entry in enumerate(entries):
                services.suppression_entry_validate(entry, row=entry_row)  # the whole file, before any part
        except services.EntryRejected as exc:
            raise CommandError(f"Row {exc.row + 1} of the CSV (after the header): {exc.message}. "
                               "Nothing was changed.") from None
        parts = [entries[i:i + suppression.MAX_ENTRIES] for i in range(0, len(entries), suppression.MAX_ENTRIES)]
        with services.acting("command", "suppress"):
            if remove:
                unlisted = sum(services.suppression_remove(workspace=found, entries=part) for part in parts)
                self.stdout.write(f"{unlisted:,} identifiers taken off the suppression list of {found.slug}.")
                return
            totals = services.SuppressionResult()
            for part in parts:
                result = services.suppression_add(workspace=found, entries=part)
                totals.listed += result.listed
                totals.already_listed += result.already_listed
                totals.removals_started += result.removals_started
        self.stdout.write(f"{totals.listed:,} identifiers listed ({totals.already_listed:,} were already); "
                          f"{totals.removals_started:,} users are being removed from their audiences.")
