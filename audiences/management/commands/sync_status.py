import json

from django.core.management.base import BaseCommand

from audiences.metrics import canvas_metrics
from audiences.models import Canvas

COLUMNS = ["entered", "proceeded", "synced", "not_synced", "pending", "errored", "exited"]


class Command(BaseCommand):
    help = "Each step's seven numbers: Entered, Proceeded, Synced, Not Synced, Pending, Errored, Exited."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
        parser.add_argument("--workspace", default=None, help="only this workspace (slug)")

    def handle(self, *args, **options):
        canvases = Canvas.objects.select_related("workspace").order_by("workspace__slug", "id")
        if options["workspace"]:
            canvases = canvases.filter(workspace__slug=options["workspace"])
        rows = []
        for canvas in canvases:
            for step, metrics in canvas_metrics(canvas):
                rows.append(
                    {
                        "workspace": canvas.workspace.slug,
                        "canvas_id": canvas.pk,
                        "canvas": canvas.name,
                        "canvas_status": canvas.status,
                        "step_id": step.pk,
                        "step": str(step),
                        "kind": step.kind,
                        **metrics.as_dict(),
                    }
                )
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title="Sync status")
        for heading in ["Workspace", "Canvas", "Step", *[c.replace("_", " ").title() for c in COLUMNS]]:
            table.add_column(heading, justify="right" if heading not in ("Workspace", "Canvas", "Step") else "left")
        for row in rows:
            table.add_row(row["workspace"], f"{row['canvas']} ({row['canvas_status']})", f"{row['step']} [{row['step_id']}]",
                          *[f"{row[c]:,}" for c in COLUMNS])
        Console(file=self.stdout, width=160).print(table)
