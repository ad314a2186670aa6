"""Alerts reach a workspace's marketers as well as its admins, in sentences, and each member may turn them off."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from audiences import services
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def test_an_errored_step_alerts_marketers_with_canvas_step_and_link(alice, bob, vera, add_canvas, settings):
    settings.SITE_URL = "https://sync.example.test"
    services.alert_settings_update(workspace=add_canvas.workspace, errored_threshold=3)
    with time_machine.travel(timezone.now() - timedelta(hours=14), tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(4))
    services.records_error_expired()

    services.alerts_check()

    assert sorted(m.to[0] for m in mail.outbox) == ["alice@acme.test", "bob@acme.test"]  # not the viewer
    body = mail.outbox[0].body
    step = add_canvas.steps.get()
    assert "Canvas “Welcome series”" in body and "4 errored users" in body
    assert f"https://sync.example.test/admin/audiences/canvas/step/{step.pk}/analytics/#errored-users" in body
    assert "What to do:" in body and "{" not in body  # sentences, no JSON


def test_a_member_turns_alert_emails_off_and_a_resolved_mail_says_it_is_over(client, alice, bob, add_canvas):
    client.force_login(bob)
    client.post(reverse("admin:audiences_alerts_mine"), {"workspace": add_canvas.workspace_id, "on": "no"})
    page = client.get(reverse("admin:audiences_canvas_overview")).content.decode()
    assert "Acme: <strong>off</strong>" in page

    services.alert_settings_update(workspace=add_canvas.workspace, errored_threshold=1)
    with time_machine.travel(timezone.now() - timedelta(hours=14), tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(2))
    services.records_error_expired()
    services.alerts_check()
    assert [m.to for m in mail.outbox] == [["alice@acme.test"]]

    services.records_retry_errored(step=add_canvas.steps.get())
    services.alerts_check()
    resolved = mail.outbox[-1]
    assert resolved.subject.startswith("[Acme] Resolved:")
    assert "This problem in Acme is over" in resolved.body and "Nothing more is needed." in resolved.body


def test_an_admin_sends_a_test_alert_and_sees_the_settings_that_apply(client, alice, bob, acme):
    client.force_login(alice)
    listing = client.get(reverse("admin:audiences_alertsettings_changelist")).content.decode()
    assert "0 alert settings" not in listing and "Acme" in listing  # alerts are on before anyone saves them
    row = services.alert_settings_of(acme)
    response = client.post(reverse("admin:audiences_alertsettings_test", args=[row.pk]), follow=True)
    assert "A test alert was sent to alice@acme.test, bob@acme.test." in response.content.decode()
    assert [m.subject for m in mail.outbox] == ["[Acme] Test alert"] * 2


def test_an_incident_links_to_where_it_is_fixed(client, alice, add_canvas):
    services.alert_settings_update(workspace=add_canvas.workspace, errored_threshold=1)
    with time_machine.travel(timezone.now() - timedelta(hours=14), tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(1))
    services.records_error_expired()
    services.alerts_check()
    client.force_login(alice)
    page = client.get(reverse("admin:audiences_incident_changelist")).content.decode()
    step = add_canvas.steps.get()
    assert f'href="/admin/audiences/canvas/step/{step.pk}/analytics/#errored-users"' in page
    assert "Canvas “Welcome series”" in page


def test_a_person_is_found_on_the_suppression_list_by_what_is_typed(client, bob, acme):
    services.suppression_add(workspace=acme, entries=[{"email": "Ann@Example.org"}])
    client.force_login(bob)
    url = reverse("admin:audiences_suppressedidentifier_changelist")
    assert "1 entry on the list" in client.get(url, {"q": "  ann@example.ORG "}).content.decode()
    assert "0 entries on the list" in client.get(url, {"q": "someone@example.org"}).content.decode()
