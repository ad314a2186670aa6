"""Pages offer only what the person's role allows: no button that would answer 403."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.roles_support import person, world  # noqa: F401

pytestmark = pytest.mark.django_db


def page(client, user, url) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def test_a_viewer_sees_the_canvas_without_launch_stop_upload_or_delete(client, world, vera):
    draft = page(client, vera, reverse("admin:audiences_canvas_change", args=[world.draft.pk]))
    live = page(client, vera, reverse("admin:audiences_canvas_change", args=[world.live.pk]))

    assert "Spring sale" in draft
    assert 'id="launch-canvas"' not in draft and 'id="stop-canvas"' not in live
    assert 'id="upload-form"' not in live
    assert "deletelink" not in draft and 'name="_save"' not in draft
    assert "step-edit" not in draft  # the steps link to their analytics only
    assert 'id="canvas-id"' in live  # what may be read is still there


def test_a_marketer_sees_launch_and_upload_but_not_what_admins_hold(client, world, bob):
    draft = page(client, bob, reverse("admin:audiences_canvas_change", args=[world.draft.pk]))
    live = page(client, bob, reverse("admin:audiences_canvas_change", args=[world.live.pk]))
    pinterest = page(client, bob, reverse("integrations:partner", args=["acme"]))

    assert 'id="launch-canvas"' in draft and 'id="upload-form"' in live
    assert 'id="disconnect"' not in pinterest and 'id="connect-form"' not in pinterest
    assert 'id="ad-accounts-form"' not in pinterest and 'id="admin-only"' in pinterest


def test_an_admin_sees_every_control(client, world, alice):
    draft = page(client, alice, reverse("admin:audiences_canvas_change", args=[world.draft.pk]))
    pinterest = page(client, alice, reverse("integrations:partner", args=["acme"]))

    assert 'id="launch-canvas"' in draft
    assert 'id="disconnect"' in pinterest and 'id="connect-form"' in pinterest and 'id="ad-accounts-form"' in pinterest


def test_a_viewer_sees_figures_but_no_retry_or_edit(client, world, vera):
    analytics = page(client, vera, reverse("admin:audiences_step_analytics", args=[world.step.pk]))

    assert "Users Synced" in analytics
    assert 'id="retry-errored"' not in analytics and "Edit step" not in analytics


def test_lists_offer_no_add_or_action_a_role_cannot_use(client, world, bob, vera):
    canvases = page(client, vera, reverse("admin:audiences_canvas_changelist"))
    suppressed = page(client, vera, reverse("admin:audiences_suppressedidentifier_changelist"))
    requests = page(client, bob, reverse("admin:audiences_privacyrequest_changelist"))
    ad_accounts = page(client, bob, reverse("admin:integrations_adaccount_changelist"))

    assert "addlink" not in canvases and "launch_selected" not in canvases
    assert "Upload a list" not in suppressed
    assert "Erase a user" not in requests
    assert 'value="enable"' not in ad_accounts
    assert "API keys" not in page(client, bob, reverse("admin:index"))
    assert "Upload a list" in page(client, bob, reverse("admin:audiences_suppressedidentifier_changelist"))
