"""Each person may do in the admin and on the Pinterest page what their role allows, nothing more.

For every role (Alice the workspace admin, Bob the marketer, Vera the viewer,
Charlie of another workspace, a superuser) and every page and action: allowed,
or refused with nothing changed in the database. Refused is 403 for a member
whose role does not allow it, 404 for an object of another workspace, or the
admin's own refusal (an action it does not offer, a workspace it does not list).
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from integrations.models import Membership
from tests.roles_support import (  # noqa: F401
    DENIED,
    HIDDEN,
    OK,
    PEOPLE,
    REFUSED,
    outcome_of,
    person,
    snapshot,
    world,
)

pytestmark = pytest.mark.django_db

A, M, V, O, S = PEOPLE  # admin, marketer, viewer, outsider, superuser


def expect(admin, marketer, viewer, outsider, superuser=OK) -> dict:
    return {A: admin, M: marketer, V: viewer, O: outsider, S: superuser}


READ_ALL = expect(OK, OK, OK, OK)  # a list: another workspace's person sees their own rows
READ_MEMBERS = expect(OK, OK, OK, HIDDEN)
MARKETERS = expect(OK, OK, DENIED, HIDDEN)
ADMINS = expect(OK, DENIED, DENIED, HIDDEN)
ADMINS_ONLY_ANYWHERE = expect(OK, DENIED, DENIED, DENIED)  # a page only admins see at all


def canvas_form(canvas, **changes) -> dict:
    return {"name": canvas.name, "steps-TOTAL_FORMS": "0", "steps-INITIAL_FORMS": "0",
            "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000", **changes}


def members_form(w, bob) -> dict:
    rows = list(Membership.objects.filter(workspace=w.acme).order_by("pk"))
    data = {"slug": "acme", "name": "Acme", "created_at_0": "2026-01-01", "created_at_1": "00:00:00",  # superusers'
            "memberships-TOTAL_FORMS": str(len(rows)), "memberships-INITIAL_FORMS": str(len(rows)),
            "memberships-MIN_NUM_FORMS": "0", "memberships-MAX_NUM_FORMS": "1000"}
    for i, row in enumerate(rows):
        data.update({f"memberships-{i}-id": str(row.pk), f"memberships-{i}-workspace": str(w.acme.pk),
                     f"memberships-{i}-user": str(row.user_id),
                     f"memberships-{i}-role": "viewer" if row.user == bob else row.role})
    return data


# (action, writes, how to ask, who may). `writes`: when allowed, the database changes.
TABLE = [
    # Reading
    ("canvas list", False, lambda c, w: c.get(reverse("admin:audiences_canvas_changelist")), READ_ALL),
    ("canvas page", False, lambda c, w: c.get(reverse("admin:audiences_canvas_change", args=[w.live.pk])),
     READ_MEMBERS),
    ("step analytics", False, lambda c, w: c.get(reverse("admin:audiences_step_analytics", args=[w.step.pk])),
     READ_MEMBERS),
    ("sync records", False, lambda c, w: c.get(reverse("admin:audiences_syncrecord_changelist")), READ_ALL),
    ("audit log", False, lambda c, w: c.get(reverse("admin:audiences_auditevent_changelist")), READ_ALL),
    ("find a person", False,  # each member within their own workspaces
     lambda c, w: c.post(reverse("admin:audiences_person_lookup"), {"identifier": "user0@example.com"}), READ_ALL),
    ("ad account list", False, lambda c, w: c.get(reverse("admin:integrations_adaccount_changelist")), READ_ALL),
    ("Pinterest page", False, lambda c, w: c.get(reverse("integrations:partner", args=["acme"])), READ_MEMBERS),
    ("API key list", False, lambda c, w: c.get(reverse("admin:integrations_apikey_changelist")),
     ADMINS_ONLY_ANYWHERE),
    ("alert settings page", False,
     lambda c, w: c.get(reverse("admin:audiences_alertsettings_change", args=[w.alerts.pk])), ADMINS),
    ("members page", False, lambda c, w: c.get(reverse("admin:integrations_workspace_change", args=[w.acme.pk])),
     ADMINS_ONLY_ANYWHERE),
    # Canvases and steps
    ("create a canvas", True,
     lambda c, w: c.post(reverse("admin:audiences_canvas_add"), canvas_form(w.empty, name="New", workspace=w.acme.pk)),
     expect(OK, OK, DENIED, REFUSED)),
    ("rename a canvas", True,
     lambda c, w: c.post(reverse("admin:audiences_canvas_change", args=[w.empty.pk]), canvas_form(w.empty, name="Re")),
     MARKETERS),
    ("delete a canvas", True,
     lambda c, w: c.post(reverse("admin:audiences_canvas_delete", args=[w.empty.pk]), {"post": "yes"}), MARKETERS),
    ("open the step editor", False, lambda c, w: c.get(reverse("admin:audiences_step_edit", args=[w.draft_step.pk])),
     MARKETERS),
    ("change a live step's match fields", True,
     lambda c, w: c.post(reverse("admin:audiences_step_edit", args=[w.step.pk]), {
         "name": w.step.name, "match_idfa": "on"}), MARKETERS),
    ("search Pinterest audiences", False,
     lambda c, w: c.get(reverse("admin:audiences_step_audience_search", args=[w.draft_step.pk]),
                        {"ad_account": str(w.ad_account.pk), "q": "x"}), MARKETERS),
    ("launch", True, lambda c, w: c.post(reverse("admin:audiences_canvas_launch", args=[w.draft.pk])), MARKETERS),
    ("stop", True, lambda c, w: c.post(reverse("admin:audiences_canvas_stop", args=[w.live.pk]), {"confirm": "yes"}),
     MARKETERS),
    ("launch from the list", True,
     lambda c, w: c.post(reverse("admin:audiences_canvas_changelist"),
                         {"action": "launch_selected", "_selected_action": [w.draft.pk]}),
     expect(OK, OK, REFUSED, REFUSED)),
    ("upload users", True,
     lambda c, w: c.post(reverse("admin:audiences_canvas_upload", args=[w.live.pk]), {
         "users_csv": SimpleUploadedFile("users.csv", b"external_id,email\nnew-1,new1@example.org\n")}),
     MARKETERS),
    ("retry errored users", True,
     lambda c, w: c.post(reverse("admin:audiences_step_retry", args=[w.step.pk])), MARKETERS),
    ("create an Actalike audience", False,
     lambda c, w: c.post(reverse("admin:audiences_step_actalike", args=[w.step.pk]), {}), MARKETERS),
    ("preview a step", False,
     lambda c, w: c.post(reverse("admin:audiences_step_preview", args=[w.step.pk]),
                         {"text": "external_id,email\np1,p1@example.org\n"}), MARKETERS),
    ("suppress people", True,
     lambda c, w: c.post(reverse("admin:audiences_suppression_upload"),
                         {"workspace": w.acme.pk, "mode": "add", "text": "external_id\nopt-out-1\n"}),
     expect(OK, OK, DENIED, REFUSED)),
    # Holding the workspace
    ("erase a user", True,
     lambda c, w: c.post(reverse("admin:audiences_user_erase"), {"workspace": w.acme.pk, "external_id": "user-1"}),
     expect(OK, DENIED, DENIED, DENIED)),
    ("change alert settings", True,
     lambda c, w: c.post(reverse("admin:audiences_alertsettings_change", args=[w.alerts.pk]), {
         "workspace": w.acme.pk, "enabled": "on", "to_admins": "on", "webhook_url": "", "errored_threshold": "7",
         "emails_text": "ops@acme.test"}),
     ADMINS),
    ("create an API key", True,
     lambda c, w: c.post(reverse("admin:integrations_apikey_add"), {"workspace": w.acme.pk, "name": "CRM",
                                                                    "scope": "entries"}),
     ADMINS_ONLY_ANYWHERE),
    ("revoke an API key", True,
     lambda c, w: c.post(reverse("admin:integrations_apikey_changelist"),
                         {"action": "revoke", "_selected_action": [w.api_key.pk]}),
     ADMINS_ONLY_ANYWHERE),
    ("choose ad accounts in the admin", True,
     lambda c, w: c.post(reverse("admin:integrations_adaccount_changelist"),
                         {"action": "enable", "_selected_action": [w.other_ad_account.pk]}),
     expect(OK, REFUSED, REFUSED, REFUSED)),
    ("choose ad accounts on the Pinterest page", True,
     lambda c, w: c.post(reverse("integrations:ad_accounts", args=["acme"]),
                         {"ad_account": [w.ad_account.pinterest_id, w.other_ad_account.pinterest_id]}), ADMINS),
    ("connect Pinterest", False,
     lambda c, w: c.post(reverse("integrations:connect", args=["acme"]), {"accept_terms": "1"}), ADMINS),
    ("disconnect Pinterest", True, lambda c, w: c.post(reverse("integrations:disconnect", args=["acme"])), ADMINS),
    ("invite a member", True,
     lambda c, w: c.post(reverse("admin:integrations_workspace_invite", args=[w.acme.pk]),
                         {"email": "new@acme.test", "role": "viewer"}), ADMINS),
    ("change a member's role", True,
     lambda c, w: c.post(reverse("admin:integrations_workspace_change", args=[w.acme.pk]), members_form(w, c.bob)),
     ADMINS_ONLY_ANYWHERE),
]


@pytest.mark.parametrize("role", PEOPLE)
@pytest.mark.parametrize(("action", "writes", "ask", "allowed"), TABLE, ids=[row[0] for row in TABLE])
def test_it_allows_what_the_role_may_and_changes_nothing_otherwise(client, world, person, bob, role, action, writes,
                                                                   ask, allowed):
    client.force_login(person[role])
    client.bob = bob
    before = snapshot()

    response = ask(client, world)

    outcome = outcome_of(response)
    expected = allowed[role]
    if expected == REFUSED:
        assert outcome != OK or response.status_code in (200, 302), (action, role, response.status_code)
    else:
        assert outcome == expected, (action, role, response.status_code)
    if expected == OK:
        if writes:
            assert snapshot() != before, f"{action} by the {role} changed nothing"
    else:
        assert snapshot() == before, f"{action} refused to the {role} changed the database"
