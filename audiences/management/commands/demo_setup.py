import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from integrations.models import Membership
from integrations.services.workspaces import workspace_add_member, workspace_create


class Command(BaseCommand):
    help = "Create the demo workspace and a local admin login (idempotent); prints the login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("DEMO_ADMIN_USERNAME", "admin"))
        parser.add_argument("--password", default=os.environ.get("DEMO_ADMIN_PASSWORD", "admin-password"))

    def handle(self, *args, username, password, **options):
        workspace = workspace_create(slug="demo", name="Demo workspace")
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True, "email": f"{username}@example.com"}
        )
        if created:
            user.set_password(password)
            user.save()
        workspace_add_member(workspace=workspace, user=user, role=Membership.Role.ADMIN)
        shown = password if created else "(unchanged; set when the login was created)"
        self.stdout.write(f"Admin login: {username} / {shown}")
