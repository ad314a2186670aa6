"""The editor a marketer builds journeys in: reordering a draft's steps, Stop asking first, the canvas's health."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from audiences import services
from audiences.models import Canvas
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def step_names(client, canvas) -> list[str]:
    page = client.get(reverse("admin:audiences_canvas_change", args=[canvas.pk])).content.decode()
    return re.findall(r'name="steps-\d+-name" value="([^"]*)"', page)


def test_a_draft_s_steps_move_up_and_down(client, bob, acme):
    canvas = services.canvas_create(workspace=acme, name="Journey")
    first = services.step_create_delay(canvas=canvas, seconds=60, name="Wait")
    second = services.step_create_audience_sync(canvas=canvas, name="Sync")
    client.force_login(bob)
    assert step_names(client, canvas) == ["Wait", "Sync"]

    response = client.post(reverse("admin:audiences_step_move", args=[second.pk]), {"direction": "up"}, follow=True)

    assert "“Sync” is now step 1 of the canvas." in response.content.decode()
    assert step_names(client, canvas) == ["Sync", "Wait"]
    client.post(reverse("admin:audiences_step_move", args=[second.pk]), {"direction": "down"})
    assert step_names(client, canvas) == ["Wait", "Sync"]
    assert first.pk  # the delay kept its place


def test_a_live_canvas_s_steps_do_not_move(client, bob, add_canvas):
    only = add_canvas.steps.get()
    client.force_login(bob)
    response = client.post(reverse("admin:audiences_step_move", args=[only.pk]), {"direction": "up"}, follow=True)
    assert "Steps can be reordered while the canvas is a draft" in response.content.decode()


def test_a_viewer_cannot_move_steps(client, vera, acme):
    canvas = services.canvas_create(workspace=acme, name="Journey")
    step = services.step_create_delay(canvas=canvas, seconds=60, name="Wait")
    client.force_login(vera)
    assert client.post(reverse("admin:audiences_step_move", args=[step.pk]), {"direction": "up"}).status_code == 403


def test_stop_asks_before_it_stops(client, bob, add_canvas):
    client.force_login(bob)
    url = reverse("admin:audiences_canvas_stop", args=[add_canvas.pk])
    asked = client.get(url).content.decode()
    assert "takes no new users" in asked and 'id="confirm-stop"' in asked
    client.post(url)  # a second click of the old button, without the confirmation
    assert Canvas.objects.get(pk=add_canvas.pk).status == Canvas.Status.ACTIVE
    client.post(url, {"confirm": "yes"})
    assert Canvas.objects.get(pk=add_canvas.pk).status == Canvas.Status.STOPPED


def test_the_canvas_page_says_why_it_needs_attention(client, bob, add_canvas):
    with time_machine.travel(timezone.now() - timedelta(hours=14), tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(4))
    services.records_error_expired()
    client.force_login(bob)
    page = client.get(reverse("admin:audiences_canvas_change", args=[add_canvas.pk])).content.decode()
    assert "This canvas needs attention:" in page
    assert "4 errored users in step" in page
