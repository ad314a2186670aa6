"""Existing members and keys keep what they could do: the migration makes members admins and keys full."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("integrations", "0004_ad_account_available")]
AFTER = [("integrations", "0005_roles_and_key_scopes")]


@pytest.mark.django_db(transaction=True)
def test_existing_members_become_admins_and_existing_keys_full():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    User = old.get_model("auth", "User")
    Workspace = old.get_model("integrations", "Workspace")
    Membership = old.get_model("integrations", "Membership")
    ApiKey = old.get_model("integrations", "ApiKey")
    acme = Workspace.objects.create(slug="acme", name="Acme")
    for name, role in [("ann", "marketer"), ("ben", "admin")]:
        Membership.objects.create(workspace=acme, user=User.objects.create(username=name), role=role)
    ApiKey.objects.create(workspace=acme, prefix="pas_old", key_hash="0" * 64)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps

    roles = dict(new.get_model("integrations", "Membership").objects.values_list("user__username", "role"))
    assert roles == {"ann": "admin", "ben": "admin"}
    assert list(new.get_model("integrations", "ApiKey").objects.values_list("scope", flat=True)) == ["full"]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
