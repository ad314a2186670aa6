from django.core.management.base import BaseCommand, CommandError

from audiences.models import Segment, Snapshot, Step
from audiences.services import imports_csv, segments
from audiences.services.errors import ServiceError


class Command(BaseCommand):
    help = ("Send a file holding a segment's whole membership as a snapshot of the step's segment, and commit it: "
            "newcomers are added, members missing from the file removed.")

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--step", type=int, required=True, help="the Audience Sync step the segment feeds")
        parser.add_argument("file", help="CSV (or .jsonl) with external_id and any of email, ios_idfa, android_aid")
        parser.add_argument("--confirm", action="store_true",
                            help="commit even if it removes more than the segment's share without asking")

    def handle(self, *args, workspace, step, file, confirm, **options):
        found = Step.objects.select_related("canvas").filter(pk=step, canvas__workspace__slug=workspace).first()
        if found is None:
            raise CommandError(f"No step {step} in workspace {workspace}. `manage.py sync_status` lists steps.")
        json_lines = imports_csv.is_json_lines(file)
        try:
            checked = imports_csv.check_file(file, json_lines=json_lines)
        except (ServiceError, OSError) as exc:
            raise CommandError(f"The file was refused: {exc}") from None
        if not checked.ok:
            raise CommandError(f"Nothing was sent: {imports_csv.errors_text(checked)}.")
        try:
            segment = Segment.objects.filter(step=found).first() or segments.segment_create(step=found)
            snapshot = segments.snapshot_open(segment, source=Snapshot.Source.COMMAND, actor=f"file {file}"[:200])
            for _, _, users in imports_csv.batches(file, 5000, json_lines=json_lines):
                segments.snapshot_add(snapshot, users)
            snapshot = segments.snapshot_commit(snapshot, actor="segment_snapshot", confirmed=confirm)
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
        if snapshot.state == Snapshot.State.WAITING:
            raise CommandError(f"Snapshot {snapshot.pk} waits for confirmation: {snapshot.note} Run again with "
                               "--confirm, or confirm it on the segment's page.")
        self.stdout.write(f"Snapshot {snapshot.pk} of segment {segment.pk} committed: {snapshot.members:,} members, "
                          f"{snapshot.added:,} added, {snapshot.changed:,} changed, {snapshot.removed:,} removed.")
