from django.core.management.base import BaseCommand, CommandError

from integrations.api_keys import api_key_create
from integrations.models import Workspace


class Command(BaseCommand):
    help = "Create an API key for a workspace and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--name", default="", help="what the key is for, e.g. the partner system")

    def handle(self, *args, workspace, name, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(
                f"No workspace “{workspace}”. Create it with: python manage.py workspace_create {workspace}"
            )
        api_key, plaintext = api_key_create(workspace=found, name=name)
        self.stdout.write(plaintext)
        self.stderr.write(
            f"API key {api_key.prefix}… for workspace {found.slug}"
            f"{f' ({api_key.name})' if api_key.name else ''}. It is shown only now: store it in the partner "
            f"system's secrets. Send it as “Authorization: Bearer <key>”."
        )
