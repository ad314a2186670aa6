from django.core.management.base import BaseCommand

from audiences import sync


class Command(BaseCommand):
    help = "Send every user due now, in this process, without waiting for the next batch window."

    def handle(self, *args, **options):
        handled = sync.run_once(flush=True)
        self.stdout.write(f"Handled {handled} users.")
