from django.core.management.base import BaseCommand, CommandError

from integrations.models import WORKSPACE_SLUG_MAX_LENGTH
from integrations.services.workspaces import InvalidWorkspace, workspace_create


class Command(BaseCommand):
    help = (
        f"Create a workspace (idempotent). The slug is part of the workspace's page URLs: ASCII letters, "
        f"digits, - and _, at most {WORKSPACE_SLUG_MAX_LENGTH} characters."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, *args, slug, name, **options):
        try:
            workspace = workspace_create(slug=slug, name=name)
        except InvalidWorkspace as exc:
            raise CommandError(f"{exc} Nothing was created.") from None
        self.stdout.write(f"Workspace {workspace.slug} (id {workspace.pk})")
