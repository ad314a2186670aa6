from django.core.management.base import BaseCommand

from audiences import services


class Command(BaseCommand):
    help = ("Delete old finished sync records, delay records, send logs, privacy requests (RETENTION_DAYS) and audit "
            "events (AUDIT_RETENTION_DAYS) now, until none is left; the steps' figures stay exact. A schedule does "
            "this every minute, for up to RETENTION_RUN_SECONDS a run.")

    def handle(self, *args, **options):
        deleted = services.retention_purge(seconds=0)
        self.stdout.write(", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in deleted.items()) + " deleted.")
