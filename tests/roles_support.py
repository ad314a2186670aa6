"""What the role tables share: the people, a workspace with one of everything, and a picture of the database.

A denied action must change nothing: `snapshot()` reads every row a page or
an API call could write (without the columns that only say when something
was last read) so a test can compare before and after.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.apps import apps

# Columns that change when something is only read or looked at.
VOLATILE = {"last_used_at", "updated_at", "last_success_at", "last_refreshed_at"}
MODELS = [
    "integrations.Workspace", "integrations.Membership", "integrations.PinterestConnection", "integrations.AdAccount",
    "integrations.ApiKey", "audiences.Canvas", "audiences.Step", "audiences.Audience", "audiences.SyncRecord",
    "audiences.SuppressedIdentifier", "audiences.PrivacyRequest", "audiences.AlertSettings", "audiences.AuditEvent",
]


def snapshot() -> dict[str, list[tuple]]:
    picture = {}
    for label in MODELS:
        model = apps.get_model(label)
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE]
        picture[label] = sorted(model.objects.order_by("pk").values_list(*fields), key=repr)
    return picture


# What a request may come to.
OK = "ok"  # allowed: 2xx or a redirect, not to the sign-in page
DENIED = "403"  # the role does not allow it
HIDDEN = "404"  # another workspace's object: it is not there for this person
REFUSED = "refused"  # the admin's own refusal (an action it does not offer, a workspace not among the choices)

PEOPLE = ["admin", "marketer", "viewer", "outsider", "superuser"]


@pytest.fixture
def person(request, alice, bob, vera, charlie, superuser):
    """The signed-in user for a role: Alice admin, Bob marketer, Vera viewer of acme; Charlie of globex only."""
    return {"admin": alice, "marketer": bob, "viewer": vera, "outsider": charlie, "superuser": superuser}


@dataclass
class World:
    """Acme with one of everything a page or an API call can act on."""

    acme: object
    connection: object
    ad_account: object
    other_ad_account: object
    live: object  # an active canvas with one sync step, users entered, one of them errored
    draft: object  # a draft canvas with a complete sync step: it can be launched
    empty: object  # a draft canvas without steps: it can be renamed and deleted
    step: object
    draft_step: object
    api_key: object
    alerts: object


@pytest.fixture
def world(sandbox, acme, connection, ad_account, add_canvas) -> World:
    from audiences import services
    from audiences.models import SyncRecord
    from integrations.api_keys import api_key_create
    from tests.conftest import make_users

    services.users_enter(canvas=add_canvas, users=make_users(3))
    step = add_canvas.steps.get()
    SyncRecord.objects.filter(step=step, external_id="user-2").update(state=SyncRecord.State.ERRORED)
    draft = services.canvas_create(workspace=acme, name="Spring sale")
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Spring audience")
    draft_step = services.step_create_audience_sync(canvas=draft, ad_account=ad_account, audience=audience)
    empty = services.canvas_create(workspace=acme, name="Empty")
    key, _ = api_key_create(workspace=acme, name="partner")
    alerts = services.alert_settings_update(workspace=acme, errored_threshold=100)
    from integrations.services.connections import ad_accounts_enable

    ad_accounts_enable(connection=connection, enabled_ids=[ad_account.pinterest_id])  # the other one is left to choose
    other = connection.ad_accounts.exclude(pk=ad_account.pk).get()
    return World(acme=acme, connection=connection, ad_account=ad_account, other_ad_account=other, live=add_canvas,
                 draft=draft, empty=empty, step=step, draft_step=draft_step, api_key=key, alerts=alerts)


def outcome_of(response) -> str:
    if response.status_code in (403, 404):
        return str(response.status_code)
    assert response.status_code < 500, response.status_code
    location = response.get("Location", "")
    assert "/login" not in location, location
    return OK
