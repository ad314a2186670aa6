import json

from django.core.management.base import BaseCommand, CommandError

from audiences import services
from audiences.models import Step
from audiences.services import imports_csv
from audiences.services.preview import SAMPLE_MAX


class Command(BaseCommand):
    help = ("Dry run of an Audience Sync step for a sample of users from a CSV (header: external_id, email, "
            "ios_idfa, android_aid): what it would do, without calling Pinterest or storing anything.")

    def add_arguments(self, parser):
        parser.add_argument("--step", type=int, required=True)
        parser.add_argument("csv", help="the sample of users")
        parser.add_argument("--volume", type=int, help="estimate requests and time for this many users")

    def handle(self, *args, step, csv, volume, **options):
        found = Step.objects.select_related("canvas", "audience").filter(pk=step).first()
        if found is None:
            raise CommandError(f"No step {step}. `python manage.py sync_status` lists steps with their ids.")
        try:
            users, checked = imports_csv.read_users(csv, limit=SAMPLE_MAX)
            if not checked.ok:
                raise CommandError(f"Bad rows: {imports_csv.errors_text(checked)}.")
            preview = services.step_preview(step=found, users=users, volume=volume)
        except OSError as exc:
            raise CommandError(f"Cannot read {csv}: {exc}") from None
        except services.ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(preview.as_dict(), indent=2))
