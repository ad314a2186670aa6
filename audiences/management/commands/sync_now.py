from django.core.management.base import BaseCommand

from audiences.sending import pump


class Command(BaseCommand):
    help = "Send every user due now, in this process, without waiting for the next batch window."

    def handle(self, *args, **options):
        handled = pump.send_due_now()
        self.stdout.write(f"Handled {handled} users.")
