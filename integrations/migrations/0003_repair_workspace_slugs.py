"""Workspaces created with a slug their page URLs cannot hold (e.g. "../../etc") get a valid one.

Such a slug broke every admin page that links to the workspace. The new slug
keeps the usable part of the old one and the workspace's id, so it is unique:
"../../etc" of workspace 7 becomes "etc-7". Valid slugs are not touched.
"""

import re

from django.db import migrations

VALID = re.compile(r"[-a-zA-Z0-9_]{1,50}")


def repair(apps, schema_editor):
    Workspace = apps.get_model("integrations", "Workspace")
    for workspace in Workspace.objects.all().only("pk", "slug"):
        if VALID.fullmatch(workspace.slug or ""):
            continue
        base = re.sub(r"[^-a-zA-Z0-9_]+", "-", workspace.slug or "").strip("-_")[:40] or "workspace"
        slug, attempt = f"{base}-{workspace.pk}", 1
        while Workspace.objects.filter(slug=slug).exists():
            attempt += 1
            slug = f"{base[:30]}-{workspace.pk}-{attempt}"
        Workspace.objects.filter(pk=workspace.pk).update(slug=slug)


class Migration(migrations.Migration):
    dependencies = [("integrations", "0002_connection_refresh_lease")]

    operations = [migrations.RunPython(repair, migrations.RunPython.noop)]
