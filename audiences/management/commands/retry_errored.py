from django.core.management.base import BaseCommand, CommandError

from audiences import services
from audiences.models import Step


class Command(BaseCommand):
    help = "Give a step's errored users another 13-hour window and send them at once."

    def add_arguments(self, parser):
        parser.add_argument("--step", type=int, required=True, help="the Audience Sync step's id (see sync_status)")

    def handle(self, *args, step, **options):
        found = Step.objects.select_related("canvas__workspace").filter(pk=step).first()
        if found is None:
            raise CommandError(f"No step {step}. `python manage.py sync_status` lists steps with their ids.")
        if found.kind != Step.Kind.AUDIENCE_SYNC:
            raise CommandError(f"Step {step} is a delay step; only Audience Sync steps have errored users.")
        retried = services.records_retry_errored(step=found)
        self.stdout.write(
            f"Retrying {retried:,} errored users of step {found.pk} ({found}) in canvas “{found.canvas}” "
            f"of {found.canvas.workspace.slug}."
        )
