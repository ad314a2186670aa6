"""The audit log: every action a workspace must be able to account for leaves a row: who, when, from where."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from audiences import services
from audiences.models import AuditEvent
from integrations.api_keys import api_key_create, api_key_revoke
from integrations.services.connections import ad_accounts_enable, connection_disconnect
from tests.api_support import acme_api, client_with_key, globex_api  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def actions(workspace) -> list[str]:
    return list(AuditEvent.objects.filter(workspace=workspace).order_by("id").values_list("action", flat=True))


def test_every_audited_action_leaves_a_row(sandbox, acme, connection, ad_account, add_canvas):
    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(10))
    services.canvas_stop(canvas=add_canvas)
    services.step_update(step=step, name="Renamed")
    services.canvas_launch(canvas=add_canvas)
    services.records_retry_errored(step=step)
    ad_accounts_enable(connection=connection, enabled_ids=[ad_account.pinterest_id])
    services.suppression_add(workspace=acme, entries=[{"external_id": "opt-out"}])
    services.suppression_remove(workspace=acme, entries=[{"external_id": "opt-out"}])
    services.erasure_request(workspace=acme, external_id="user-9")
    key, _ = api_key_create(workspace=acme, name="partner")
    api_key_revoke(api_key=key)
    connection_disconnect(connection=connection)

    assert actions(acme) == [
        "connection.connect", "canvas.create", "step.create", "canvas.launch", "canvas.stop", "step.update", "canvas.launch", "step.retry_errored",
        "ad_accounts.choose", "suppression.add", "suppression.remove", "user.erase", "api_key.create",
        "api_key.revoke", "connection.disconnect",
    ]
    assert not AuditEvent.objects.filter(target__contains="user-9").exists()  # an erasure names no one


def test_it_says_where_an_action_came_from(sandbox, client, alice, acme, add_canvas):
    _, plaintext = api_key_create(workspace=acme, name="partner")
    api = client_with_key(plaintext)
    assert api.post(f"/api/v1/canvases/{add_canvas.pk}/stop/").status_code == 200
    client.force_login(alice)
    client.post(reverse("admin:audiences_canvas_launch", args=[add_canvas.pk]))
    with services.acting("command", "launch_all"):
        services.canvas_stop(canvas=add_canvas)

    stop_api, launch_admin, stop_command = AuditEvent.objects.filter(
        action__in=["canvas.launch", "canvas.stop"]).order_by("id")[1:]
    assert (stop_api.source, stop_api.actor) == ("api", f"API key {plaintext.split('_')[0]}_{plaintext.split('_')[1]}")
    assert stop_api.ip == "127.0.0.1"
    assert (launch_admin.action, launch_admin.source, launch_admin.actor) == ("canvas.launch", "admin", "alice")
    assert (stop_command.source, stop_command.actor) == ("command", "launch_all")


def test_the_api_lists_the_workspaces_events_newest_first(sandbox, acme_api, globex_api, add_canvas):
    services.canvas_stop(canvas=add_canvas)
    body = acme_api.get("/api/v1/audit-events/").json()
    assert [e["action"] for e in body["results"]][:2] == ["canvas.stop", "canvas.launch"]
    assert {"id", "at", "action", "source", "actor", "ip", "target", "details"} == set(body["results"][0])
    globex = globex_api.get("/api/v1/audit-events/").json()["results"]
    assert {e["action"] for e in globex} <= {"api_key.create", "member.add"}  # its own, none of acme's


def test_the_admin_shows_it_read_only_and_scoped(sandbox, client, alice, charlie, add_canvas):
    services.canvas_stop(canvas=add_canvas)
    client.force_login(alice)
    page = client.get(reverse("admin:audiences_auditevent_changelist"))
    assert page.status_code == 200 and "canvas.stop" in page.content.decode()
    event = AuditEvent.objects.get(action="canvas.stop")
    assert client.post(reverse("admin:audiences_auditevent_delete", args=[event.pk])).status_code in (403, 404)
    client.force_login(charlie)
    assert "canvas.stop" not in client.get(reverse("admin:audiences_auditevent_changelist")).content.decode()


def test_the_command_prints_it(sandbox, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(1))
    out = StringIO()
    call_command("audit_log", "--workspace", "acme", stdout=out)
    assert "canvas.launch" in out.getvalue()
