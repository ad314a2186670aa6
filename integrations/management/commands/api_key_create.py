from django.core.management.base import BaseCommand

from integrations.api_keys import api_key_create
from integrations.management.workspaces import workspace_by_slug
from integrations.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for a workspace and print it once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--name", default="", help="what the key is for, e.g. the partner system")
        parser.add_argument(
            "--scope", choices=ApiKey.Scope.values, default=ApiKey.Scope.FULL,
            help="what the key may call: entries (only POST entries), read (GET operations only) or full "
                 "(everything; the default)",
        )

    def handle(self, *args, workspace, name, scope=ApiKey.Scope.FULL, **options):
        found = workspace_by_slug(workspace, nothing_done="No key was created.")
        api_key, plaintext = api_key_create(workspace=found, name=name, scope=scope)
        self.stdout.write(plaintext)
        self.stderr.write(
            f"API key {api_key.prefix}… for workspace {found.slug}"
            f"{f' ({api_key.name})' if api_key.name else ''}, scope {api_key.scope}. It is shown only now: store it in the partner "
            f"system's secrets. Send it as “Authorization: Bearer <key>”."
        )
