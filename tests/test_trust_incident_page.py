"""A marketer's incident page lists the incident's deliveries: who was told, how, and whether it arrived."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audiences import services
from audiences.models import Incident
from integrations.services.connections import connection_mark_invalid

pytestmark = pytest.mark.django_db


def test_it_lists_the_deliveries_to_a_marketer_of_the_workspace(acme, alice, connection, client, mailoutbox):
    services.alert_settings_update(workspace=acme, to_admins=False, emails=["ops@acme.test", "night@acme.test"])
    connection_mark_invalid(connection=connection, reason="Pinterest refused the token.")
    services.alerts_check()
    incident = Incident.objects.get()
    assert not alice.is_superuser

    client.force_login(alice)
    page = client.get(reverse("admin:audiences_incident_change", args=[incident.pk]))

    assert page.status_code == 200
    text = page.content.decode()
    assert "ops@acme.test" in text and "night@acme.test" in text
    assert text.count(">Sent<") >= 2  # each delivery's status


def test_another_workspaces_marketer_sees_no_such_incident(acme, charlie, connection, client, mailoutbox):
    services.alert_settings_update(workspace=acme, to_admins=False, emails=["ops@acme.test"])
    connection_mark_invalid(connection=connection, reason="Pinterest refused the token.")
    services.alerts_check()
    client.force_login(charlie)
    page = client.get(reverse("admin:audiences_incident_change", args=[Incident.objects.get().pk]))
    assert page.status_code == 404
    assert "ops@acme.test" not in page.content.decode()
