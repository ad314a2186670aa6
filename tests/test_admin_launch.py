"""Launching and stopping a canvas from its admin page: each refusal names its reason."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audiences import services
from audiences.models import Canvas


def launch(client, canvas):
    response = client.post(reverse("admin:audiences_canvas_launch", args=[canvas.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:audiences_canvas_change", args=[canvas.pk])
    return [str(m) for m in response.context["messages"]], response.content.decode()


@pytest.fixture
def draft(acme):
    return services.canvas_create(workspace=acme, name="Spring sale")


@pytest.fixture
def audience(acme, ad_account):
    return services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Spring buyers")


def test_it_refuses_without_a_valid_connection(client, alice, draft, ad_account, audience, connection):
    from integrations.services.connections import connection_mark_invalid

    services.step_create_audience_sync(canvas=draft, ad_account=ad_account, audience=audience)
    connection_mark_invalid(connection=connection, reason="Pinterest refused the token.")
    client.force_login(alice)

    shown, page = launch(client, draft)

    assert shown == [
        "“Spring sale” was not launched: The workspace has no valid Pinterest connection: connect Pinterest first."
    ]
    assert "Pinterest refused the token." in page  # the connection banner
    assert 'href="/pinterest/acme/"' in page
    draft.refresh_from_db()
    assert draft.status == Canvas.Status.DRAFT


def test_it_refuses_a_sync_step_without_ad_account(client, alice, draft, connection):
    step = services.step_create_audience_sync(canvas=draft)
    client.force_login(alice)

    shown, _ = launch(client, draft)

    assert f"“Spring sale” was not launched: Step 1 ({step}) has no ad account." in shown
    assert Canvas.objects.get(pk=draft.pk).status == Canvas.Status.DRAFT


def test_it_refuses_a_sync_step_without_audience(client, alice, draft, ad_account):
    step = services.step_create_audience_sync(canvas=draft, ad_account=ad_account)
    client.force_login(alice)

    shown, _ = launch(client, draft)

    assert shown == [f"“Spring sale” was not launched: Step 1 ({step}) has no audience."]


def test_it_refuses_a_sync_step_without_match_field(client, alice, draft, ad_account, audience):
    step = services.step_create_audience_sync(canvas=draft, ad_account=ad_account, audience=audience, match_fields=())
    client.force_login(alice)

    shown, _ = launch(client, draft)

    assert shown == [f"“Spring sale” was not launched: Step 1 ({step}) has no match field."]


def test_it_shows_one_message_per_problem(client, alice, draft):
    services.step_create_audience_sync(canvas=draft, match_fields=())
    client.force_login(alice)

    shown, _ = launch(client, draft)

    assert len(shown) == 4  # connection, ad account, audience, match field


def test_it_launches_and_stops(client, alice, draft, ad_account, audience):
    services.step_create_audience_sync(canvas=draft, ad_account=ad_account, audience=audience)
    client.force_login(alice)

    shown, page = launch(client, draft)

    assert shown == ["“Spring sale” is live: users who enter it are synced to Pinterest."]
    assert 'id="stop-canvas"' in page and 'id="launch-canvas"' not in page
    assert Canvas.objects.get(pk=draft.pk).status == Canvas.Status.ACTIVE

    asked = client.post(reverse("admin:audiences_canvas_stop", args=[draft.pk]), follow=True)
    assert "Yes, stop the canvas" in asked.content.decode()  # Stop asks first
    assert Canvas.objects.get(pk=draft.pk).status == Canvas.Status.ACTIVE

    response = client.post(reverse("admin:audiences_canvas_stop", args=[draft.pk]), {"confirm": "yes"}, follow=True)

    assert "is stopped" in response.content.decode()
    assert Canvas.objects.get(pk=draft.pk).status == Canvas.Status.STOPPED


def test_it_launches_from_the_list_action(client, alice, draft, ad_account, audience):
    services.step_create_audience_sync(canvas=draft, ad_account=ad_account, audience=audience)
    client.force_login(alice)

    response = client.post(
        reverse("admin:audiences_canvas_changelist"),
        {"action": "launch_selected", "_selected_action": [draft.pk]},
        follow=True,
    )

    assert "“Spring sale” is live" in response.content.decode()
    assert Canvas.objects.get(pk=draft.pk).status == Canvas.Status.ACTIVE


def test_it_creates_a_canvas_with_steps_in_the_admin(client, alice, acme, connection):
    client.force_login(alice)

    response = client.post(
        reverse("admin:audiences_canvas_add"),
        {
            "workspace": acme.pk,
            "name": "Onboarding",
            "steps-TOTAL_FORMS": "2",
            "steps-INITIAL_FORMS": "0",
            "steps-MIN_NUM_FORMS": "0",
            "steps-MAX_NUM_FORMS": "1000",
            "steps-0-kind": "audience_sync",
            "steps-0-name": "Add buyers",
            "steps-0-delay_seconds": "0",
            "steps-1-kind": "delay",
            "steps-1-name": "Wait a day",
            "steps-1-delay_seconds": "86400",
            "_continue": "1",
        },
        follow=True,
    )

    canvas = Canvas.objects.get(name="Onboarding")
    assert canvas.workspace == acme
    assert [(s.kind, s.name, s.position) for s in canvas.steps.order_by("position")] == [
        ("audience_sync", "Add buyers", 0),
        ("delay", "Wait a day", 1),
    ]
    assert "Edit step" in response.content.decode()


def test_it_shows_the_connection_banner_on_the_canvas_list(client, alice, draft):
    client.force_login(alice)

    page = client.get(reverse("admin:audiences_canvas_changelist")).content.decode()

    assert "Pinterest is not connected for Acme." in page
    assert 'href="/pinterest/acme/"' in page


def test_it_shows_no_banner_when_connected(client, alice, draft, connection):
    client.force_login(alice)

    page = client.get(reverse("admin:audiences_canvas_changelist")).content.decode()

    assert 'id="connection-banner"' not in page


def test_a_live_canvas_takes_a_new_delay_and_step_name_but_no_new_step(client, alice, draft, ad_account, audience):
    sync = services.step_create_audience_sync(canvas=draft, ad_account=ad_account, audience=audience)
    delay = services.step_create_delay(canvas=draft, seconds=3600, name="Wait an hour")
    services.canvas_launch(canvas=draft)
    client.force_login(alice)
    url = reverse("admin:audiences_canvas_change", args=[draft.pk])
    page = client.get(url).content.decode()
    assert 'name="steps-1-delay_seconds"' in page and "Add another step" not in page

    form = {"workspace": draft.workspace_id, "name": draft.name, "steps-TOTAL_FORMS": "2",
            "steps-INITIAL_FORMS": "2", "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000",
            "steps-0-id": sync.pk, "steps-0-canvas": draft.pk, "steps-0-name": "Add buyers",
            "steps-0-delay_seconds": "0",
            "steps-1-id": delay.pk, "steps-1-canvas": draft.pk, "steps-1-name": "Wait a day",
            "steps-1-delay_seconds": "86400", "_continue": "1"}
    client.post(url, form, follow=True)

    delay.refresh_from_db(), sync.refresh_from_db()
    assert (delay.name, delay.delay_seconds, sync.name) == ("Wait a day", 86400, "Add buyers")
    assert Canvas.objects.get(pk=draft.pk).status == Canvas.Status.ACTIVE
