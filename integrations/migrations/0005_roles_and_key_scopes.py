"""Roles that decide what a member may do, and API keys with a scope.

Existing members and keys keep what they could do before:

- Until now a membership's role only chose who received alert emails; every
  member could do everything in the workspace (connect and disconnect
  Pinterest, choose ad accounts, create and revoke API keys, change alerts,
  erase users). The stored "marketer" was the default every invitation and
  `marketer_create` wrote, not a choice anyone made to limit a person, so it
  cannot be read as "marked otherwise". Every existing membership therefore
  becomes a workspace admin (those already admins stay admins). A side
  effect worth knowing: with alerts "to admins" on (the default), these
  members now receive alert emails too; a workspace admin lowers members who
  should not hold the workspace to marketer or viewer in the admin.
- Every existing API key becomes `full`: it could call every operation.
- New memberships default to marketer; new keys to the scope chosen when
  they are created (`full` unless another is chosen).

Going back leaves the roles as they are (viewer is then an unknown value
that the old code treats like any member).
"""

from django.db import migrations, models


def existing_members_become_admins(apps, schema_editor):
    Membership = apps.get_model("integrations", "Membership")
    Membership.objects.exclude(role="admin").update(role="admin")


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0004_ad_account_available"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scope",
            field=models.CharField(
                choices=[
                    ("entries", "Entries only (POST users into canvases)"),
                    ("read", "Read only (GET operations)"),
                    ("full", "Full (everything a workspace key can do)"),
                ],
                # Fills every existing key with `full`.
                default="full",
                help_text="What the key may do; chosen when it is created.",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="membership",
            name="role",
            field=models.CharField(
                choices=[("admin", "Workspace admin"), ("marketer", "Marketer"), ("viewer", "Viewer")],
                default="marketer",
                help_text="Workspace admins hold the connection, keys, alerts and members; marketers build and run "
                "canvases; viewers read.",
                max_length=20,
            ),
        ),
        migrations.RunPython(existing_members_become_admins, migrations.RunPython.noop, elidable=True),
    ]
