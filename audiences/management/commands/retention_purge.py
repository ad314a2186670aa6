from django.core.management.base import BaseCommand

from audiences import services


class Command(BaseCommand):
    help = ("Delete old finished sync records, send logs, privacy requests (RETENTION_DAYS) and audit events "
            "(AUDIT_RETENTION_DAYS) now, in small batches; the steps' figures stay exact. A schedule does this "
            "every 10 minutes.")

    def handle(self, *args, **options):
        deleted = services.retention_purge(max_batches=1_000_000)
        self.stdout.write(", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in deleted.items()) + " deleted.")
