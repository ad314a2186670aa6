import json

from django.core.management.base import BaseCommand, CommandError

from audiences.models import AuditEvent


class Command(BaseCommand):
    help = "The audit log, newest first: who did what, when and from where."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", help="only this workspace (its slug)")
        parser.add_argument("--limit", type=int, default=50)
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, workspace, limit, as_json: bool, **options):
        events = AuditEvent.objects.select_related("workspace")
        if workspace:
            events = events.filter(workspace__slug=workspace)
        if limit < 1:
            raise CommandError("--limit is at least 1.")
        rows = [
            {"at": e.at.isoformat(), "workspace": e.workspace.slug if e.workspace else None, "action": e.action,
             "source": e.source, "actor": e.actor, "ip": e.ip, "target": e.target, "details": e.details}
            for e in events[:limit]
        ]
        if as_json:
            self.stdout.write(_dumps(rows))
            return
        for row in rows:
            self.stdout.write(f"{row['at']}  {row['workspace'] or '-'}  {row['action']:<22} {row['source']:<8} "
                              f"{row['actor'] or '-'}  {row['target']}  {_dumps(row['details']) if row['details'] else ''}")


def _dumps(value) -> str:
    return json.dumps(value, sort_keys=True)
