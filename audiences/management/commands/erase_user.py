import json

from django.core.management.base import BaseCommand, CommandError

from audiences import services
from integrations.management.workspaces import workspace_by_slug


class Command(BaseCommand):
    help = ("Erase a user: remove them from every Pinterest audience of the workspace, then delete their "
            "records, keeping only counts. Tries at once; what is left is retried by the `privacy requests` "
            "schedule until Pinterest accepted every removal.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("external_id", help="your id for the user")
        parser.add_argument("--no-wait", action="store_true", help="only record the erasure; the schedule does it")

    def handle(self, *args, workspace, external_id, no_wait, **options):
        found = workspace_by_slug(workspace, nothing_done="Nothing was erased.")
        with services.acting("command", "erase_user"):
            try:
                erasure = services.erasure_request(workspace=found, external_id=external_id)
            except services.EntryRejected as exc:
                raise CommandError(exc.message) from None
            except services.NothingToErase as exc:
                raise CommandError(str(exc)) from None
            if not no_wait:
                services.privacy_request_run(request=erasure)
        erasure.refresh_from_db()
        self.stdout.write(f"Erasure #{erasure.pk}: {erasure.status}"
                          + (f" ({erasure.last_error})" if erasure.status == "pending" and erasure.last_error else ""))
        self.stdout.write(json.dumps(erasure.removed, sort_keys=True))
