"""A workspace slug is a Django slug of 1 to 50 characters, wherever a workspace is created.

The slug is part of every workspace page's URL (/pinterest/<slug>/): one
those URLs cannot hold made the admin's workspace list and the marketer's
canvas list answer 500.
"""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.urls import reverse

from integrations.models import Workspace
from integrations.services.workspaces import InvalidWorkspace, workspace_add_member, workspace_create

pytestmark = pytest.mark.django_db

NOT_SLUGS = ["../../etc", "a/b", "", " ", "acme ", "acme\n", "ac me", "caf\u00e9", "a" * 51, "\udcff", "a\x00",
             "%2e%2e", "acme?x=1"]


@pytest.mark.parametrize("slug", NOT_SLUGS)
def test_the_service_refuses_a_slug_that_is_not_one(slug):
    with pytest.raises(InvalidWorkspace, match="Invalid workspace slug"):
        workspace_create(slug=slug)
    assert not Workspace.objects.exists()


@pytest.mark.parametrize("name", ["x" * 201, "Acme\x00", "Acme\nInc", "\ud800"])
def test_the_service_refuses_a_name_that_is_not_one(name):
    with pytest.raises(InvalidWorkspace):
        workspace_create(slug="acme", name=name)
    assert not Workspace.objects.exists()


def test_a_slug_of_fifty_characters_is_fine():
    assert workspace_create(slug="a" * 50, name="Long").slug == "a" * 50


@pytest.mark.parametrize("slug", NOT_SLUGS)
def test_the_command_refuses_it_with_a_command_error(slug):
    with pytest.raises(CommandError, match="Invalid workspace slug.*Nothing was created"):
        call_command("workspace_create", slug, stdout=StringIO())
    assert not Workspace.objects.exists()


@pytest.mark.parametrize("slug", ["../../etc", "\udcff"])
def test_pinterest_connect_names_no_workspace_for_a_slug_that_is_not_one(slug):
    with pytest.raises(CommandError, match="No workspace"):
        call_command("pinterest_connect", "--workspace", slug, "--access-token", "pina_x", "--refresh-token",
                     "pinr_x", stdout=StringIO())


@pytest.mark.parametrize("slug", ["../../etc", "a" * 51, "caf\u00e9"])
def test_the_admin_refuses_it(client, superuser, slug):
    client.force_login(superuser)

    response = client.post(reverse("admin:integrations_workspace_add"), {
        "slug": slug, "name": "Evil", "created_at_0": "2026-01-01", "created_at_1": "00:00:00",
        "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
    })

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["slug"], errors
    assert not Workspace.objects.exists()


def test_the_admin_refuses_a_name_the_service_refuses_and_records_a_rename(client, superuser, acme):
    from audiences.models import AuditEvent

    client.force_login(superuser)
    url = reverse("admin:integrations_workspace_change", args=[acme.pk])
    form = {"slug": acme.slug, "created_at_0": "2026-01-01", "created_at_1": "00:00:00",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"}

    refused = client.post(url, {**form, "name": "Acme\x07Corp"})
    assert refused.status_code == 200
    assert "control characters" in str(refused.context["adminform"].form.errors)
    acme.refresh_from_db()
    assert acme.name == "Acme"

    assert client.post(url, {**form, "name": "Acme Corporation"}).status_code == 302
    acme.refresh_from_db()
    assert acme.name == "Acme Corporation"
    assert AuditEvent.objects.filter(workspace=acme, action="workspace.update").count() == 1


def test_a_workspace_stored_with_a_bad_slug_is_repaired_and_the_lists_answer_again(client, superuser, alice, acme):
    from audiences import services

    bad = Workspace.objects.create(slug="../../etc", name="Odd")  # as the command allowed before
    workspace_add_member(workspace=bad, user=alice)
    services.canvas_create(workspace=bad, name="Odd canvas")
    other = Workspace.objects.create(slug=f"etc-{bad.pk}", name="Taken")  # the repaired slug is taken

    importlib.import_module("integrations.migrations.0003_repair_workspace_slugs").repair(apps, None)

    bad.refresh_from_db()
    assert bad.slug == f"etc-{bad.pk}-2" and bad.slug != other.slug
    assert Workspace.objects.get(pk=acme.pk).slug == "acme"
    client.force_login(superuser)
    assert client.get(reverse("admin:integrations_workspace_changelist")).status_code == 200
    client.force_login(alice)
    page = client.get(reverse("admin:audiences_canvas_changelist"))
    assert page.status_code == 200 and "Odd canvas" in page.content.decode()
