from django.core.management.base import BaseCommand, CommandError

from audiences import services
from audiences.models import Incident
from integrations.management.workspaces import workspace_by_slug


class Command(BaseCommand):
    help = ("Check for incidents now and deliver due alerts (a schedule does this every minute), and list the "
            "open incidents. With --workspace and --email/--webhook, change who the workspace tells.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", help="the workspace's slug")
        parser.add_argument("--email", action="append", help="an address to tell (repeat for more)")
        parser.add_argument("--webhook", help="a URL to POST signed alerts to ('' for none)")
        parser.add_argument("--threshold", type=int, help="errored users of a step that open an incident")

    def handle(self, *args, workspace, email, webhook, threshold, **options):
        if email is not None or webhook is not None or threshold is not None:
            found = workspace_by_slug(workspace, nothing_done="The alerts were not changed.")
            with services.acting("command", "alerts"):
                try:
                    saved = services.alert_settings_update(workspace=found, emails=email, webhook_url=webhook,
                                                           errored_threshold=threshold)
                except services.ServiceError as exc:
                    raise CommandError(str(exc)) from None
            self.stdout.write(f"Alerts of {found.slug}: emails {saved.emails or '-'}, webhook "
                              f"{saved.webhook_url or '-'} (secret {saved.webhook_secret or '-'}).")
        opened, resolved = services.alerts_check()
        self.stdout.write(f"{opened} incidents opened, {resolved} resolved.")
        incidents = Incident.objects.filter(resolved_at__isnull=True).select_related("workspace")
        if workspace:
            incidents = incidents.filter(workspace__slug=workspace)
        for incident in incidents:
            self.stdout.write(f"open since {incident.opened_at:%Y-%m-%d %H:%M} {incident.workspace.slug}: "
                              f"{incident.summary}")
