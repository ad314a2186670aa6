"""Make a marketer of one workspace and print a one-time link to their welcome page (they set a password there).

    python manage.py marketer_create --workspace acme ann@example.com
    python manage.py marketer_create --workspace acme ann@example.com --base-url https://sync.example.com
    python manage.py marketer_create --workspace acme ann@example.com --role admin   # or viewer

The marketer signs in to the admin and sees only that workspace. An existing
user with that email joins the workspace and keeps their password (a link is
printed all the same, should they have forgotten it).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from integrations.management.workspaces import workspace_by_slug
from integrations.models import Membership
from integrations.services.workspaces import (InvalidMarketer, InvalidMembership, invitation_expires_at,
                                              invitation_valid_for, marketer_invite, marketer_sign_in_path)


class Command(BaseCommand):
    help = "Make a marketer of one workspace and print a one-time link to set their password."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--role", choices=Membership.Role.values, default=Membership.Role.MARKETER,
                            help="admin (holds the connection, keys, alerts and members), marketer (the default: "
                                 "builds and runs canvases) or viewer (reads)")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000",
                            help="where people reach this service (default http://127.0.0.1:8000)")

    def handle(self, *args, email: str, workspace: str, base_url: str, role: str = Membership.Role.MARKETER,
               **options):
        found = workspace_by_slug(workspace, nothing_done="Nothing was created.")
        try:
            user, created = marketer_invite(workspace=found, email=email, role=role)
        except (InvalidMarketer, InvalidMembership) as exc:
            raise CommandError(f"{exc} Nothing was created.") from None
        link = base_url.rstrip("/") + marketer_sign_in_path(user, workspace=found)
        expires_at = timezone.localtime(invitation_expires_at())
        verb = "Created marketer" if created else "Added"
        self.stdout.write(f"{verb} {user.email} to workspace {found.slug}. Role: {Membership.Role(role).label.lower()}.")
        self.stdout.write("One-time link to their welcome page, where they choose a password and are signed in "
                          f"(send it to them; it works once, until {expires_at:%Y-%m-%d %H:%M %Z}, "
                          f"{invitation_valid_for()} from now):\n{link}")
