"""Make a marketer of one workspace and print a one-time link where they set their password.

    python manage.py marketer_create --workspace acme ann@example.com
    python manage.py marketer_create --workspace acme ann@example.com --base-url https://sync.example.com

The marketer signs in to the admin and sees only that workspace. An existing
user with that email joins the workspace and keeps their password (a link is
printed all the same, should they have forgotten it).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integrations import services
from integrations.models import Workspace


class Command(BaseCommand):
    help = "Make a marketer of one workspace and print a one-time link to set their password."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000",
                            help="where people reach this service (default http://127.0.0.1:8000)")

    def handle(self, *args, email: str, workspace: str, base_url: str, **options):
        found = Workspace.objects.filter(slug=workspace).first()
        if found is None:
            raise CommandError(f"No workspace “{workspace}”. Nothing was created.")
        try:
            user, created = services.marketer_invite(workspace=found, email=email)
        except services.InvalidMarketer as exc:
            raise CommandError(f"{exc} Nothing was created.") from None
        link = base_url.rstrip("/") + services.marketer_sign_in_path(user)
        verb = "Created marketer" if created else "Added"
        self.stdout.write(f"{verb} {user.email} to workspace {found.slug}.")
        self.stdout.write(f"One-time link to set a password and sign in (send it to them; it works once):\n{link}")
