import json

from django.core.management.base import BaseCommand, CommandError

from audiences.metrics import canvas_metrics
from audiences.models import Canvas
from ops.health import health

COLUMNS = ["entered", "proceeded", "synced", "not_synced", "pending", "errored", "exited"]


class Command(BaseCommand):
    help = (
        "The service's health (what /healthz answers: database, broker, sender, oldest due record) and each "
        "step's seven numbers: Entered, Proceeded, Synced, Not Synced, Pending, Errored, Exited."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
        parser.add_argument("--workspace", default=None, help="only this workspace's steps (slug)")
        parser.add_argument("--check", action="store_true", help="exit with status 1 when the service is unhealthy")

    def handle(self, *args, **options):
        report = health()
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
            self.stdout.write(json.dumps({"health": report.as_dict(), "steps": rows}, indent=2))
        else:
            self._tables(report, rows)
        if options["check"] and not report.ok:
            raise CommandError("unhealthy: " + ", ".join(n for n, c in report.checks.items() if c.status != "ok"))

    def _tables(self, report, rows):
        from rich.console import Console
        from rich.table import Table

        console = Console(file=self.stdout, width=160)
        checks = Table(title=f"Health: {'ok' if report.ok else 'FAIL'} (what /healthz answers)")
        for heading in ("Check", "Status", "Details"):
            checks.add_column(heading)
        for name, check in report.checks.items():
            details = ", ".join(f"{k}={v}" for k, v in check.detail.items())
            checks.add_row(name, check.status, details)
        console.print(checks)

        table = Table(title="Sync status")
        for heading in ["Workspace", "Canvas", "Step", *[c.replace("_", " ").title() for c in COLUMNS]]:
            table.add_column(heading, justify="right" if heading not in ("Workspace", "Canvas", "Step") else "left")
        for row in rows:
            table.add_row(row["workspace"], f"{row['canvas']} ({row['canvas_status']})", f"{row['step']} [{row['step_id']}]",
                          *[f"{row[c]:,}" for c in COLUMNS])
        console.print(table)
