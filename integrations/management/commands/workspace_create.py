from django.core.management.base import BaseCommand

from integrations.services import workspace_create


class Command(BaseCommand):
    help = "Create a workspace (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, *args, slug, name, **options):
        workspace = workspace_create(slug=slug, name=name)
        self.stdout.write(f"Workspace {workspace.slug} (id {workspace.pk})")
