from django.core.management.base import BaseCommand

from audiences.tasks import SCHEDULES, schedules_install


class Command(BaseCommand):
    help = "Install (or update) the django-q2 schedules of the sender and sweepers. Safe to run again."

    def handle(self, *args, **options):
        schedules_install()
        for name, (func, minutes) in SCHEDULES.items():
            self.stdout.write(f"{name}: {func} every {minutes} min")
