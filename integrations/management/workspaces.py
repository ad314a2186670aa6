"""The workspace a command names by its slug: the one lookup every command uses."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from integrations.models import Workspace, validate_workspace_slug


def workspace_by_slug(slug: str | None, *, nothing_done: str = "Nothing was changed.") -> Workspace:
    """The workspace with this slug, or a CommandError that names the slug and says how to make it.

    A slug that cannot be a workspace's (`../x`, a lone surrogate) is refused
    before any query, with the same answer as a slug nobody created.
    """
    if not slug:
        raise CommandError(f"Give --workspace SLUG of an existing workspace. {nothing_done}")
    try:
        validate_workspace_slug(slug)
    except ValidationError:
        shown = slug.encode("utf-8", "backslashreplace").decode()[:60]
        raise CommandError(f"No workspace “{shown}”: that is not a workspace slug. {nothing_done}") from None
    found = Workspace.objects.filter(slug=slug).first()
    if found is None:
        raise CommandError(f"No workspace “{slug}”. {nothing_done} Create it with: "
                           f"python manage.py workspace_create {slug}")
    return found
