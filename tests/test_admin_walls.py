"""A marketer sees their own workspace in the admin and nothing of any other."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audiences import services


@pytest.fixture
def acme_canvas(acme, ad_account):
    canvas = services.canvas_create(workspace=acme, name="Acme welcome")
    step = services.step_create_audience_sync(canvas=canvas, ad_account=ad_account)
    return canvas, step


@pytest.fixture
def globex_canvas(globex):
    return services.canvas_create(workspace=globex, name="Globex winback")


@pytest.mark.parametrize(
    "url_name, kind",
    [
        ("admin:audiences_canvas_change", "canvas"),
        ("admin:audiences_step_edit", "step"),
        ("admin:audiences_step_analytics", "step"),
        ("admin:audiences_step_audience_search", "step"),
        ("admin:integrations_pinterestconnection_change", "connection"),
        ("admin:integrations_adaccount_change", "ad_account"),
    ],
)
def test_it_answers_404_for_another_workspace(client, charlie, acme_canvas, connection, ad_account, url_name, kind):
    canvas, step = acme_canvas
    target = {"canvas": canvas, "step": step, "connection": connection, "ad_account": ad_account}[kind]
    client.force_login(charlie)

    response = client.get(reverse(url_name, args=[target.pk]))

    assert response.status_code == 404


def test_it_refuses_another_workspace_launch(client, charlie, acme_canvas):
    canvas, _ = acme_canvas
    client.force_login(charlie)

    assert client.post(reverse("admin:audiences_canvas_launch", args=[canvas.pk])).status_code == 404
    canvas.refresh_from_db()
    assert canvas.status == "draft"


def test_it_lists_only_the_workspace_canvases(client, alice, acme_canvas, globex_canvas):
    client.force_login(alice)

    page = client.get(reverse("admin:audiences_canvas_changelist")).content.decode()

    assert "Acme welcome" in page
    assert "Globex winback" not in page


def test_it_shows_the_member_their_own_pages(client, alice, acme_canvas, connection):
    canvas, step = acme_canvas
    client.force_login(alice)

    assert client.get(reverse("admin:audiences_canvas_change", args=[canvas.pk])).status_code == 200
    assert client.get(reverse("admin:audiences_step_edit", args=[step.pk])).status_code == 200
    assert client.get(reverse("admin:audiences_step_analytics", args=[step.pk])).status_code == 200
    page = client.get(reverse("admin:integrations_pinterestconnection_change", args=[connection.pk])).content.decode()
    assert "acme-ads" in page
    assert "token_encrypted" not in page
    assert connection.access_token not in page and connection.refresh_token not in page
    assert connection.access_token_encrypted not in page


def test_it_offers_only_the_workspace_enabled_ad_accounts(client, alice, acme, connection):
    from integrations.services.connections import ad_accounts_enable

    first, second = connection.ad_accounts.order_by("pinterest_id")
    ad_accounts_enable(connection=connection, enabled_ids=[first.pinterest_id])
    canvas = services.canvas_create(workspace=acme, name="Choices")
    step = services.step_create_audience_sync(canvas=canvas)
    client.force_login(alice)

    page = client.get(reverse("admin:audiences_step_edit", args=[step.pk])).content.decode()

    assert f'value="{first.pk}"' in page
    assert f'value="{second.pk}"' not in page


def test_it_shows_a_new_api_key_once(client, alice, acme):
    client.force_login(alice)

    response = client.post(
        reverse("admin:integrations_apikey_add"), {"workspace": acme.pk, "name": "CRM", "scope": "full"}, follow=True
    )

    page = response.content.decode()
    assert "Your new API key is pas_" in page
    key = acme.api_keys.get()
    assert key.name == "CRM"
    again = client.get(reverse("admin:integrations_apikey_change", args=[key.pk])).content.decode()
    assert "Your new API key" not in again and key.key_hash not in again


def test_it_keeps_other_workspaces_out_of_the_canvas_form(client, alice, globex):
    client.force_login(alice)

    page = client.get(reverse("admin:audiences_canvas_add")).content.decode()

    assert "Globex" not in page


def test_it_signs_a_marketer_in_through_allauth(client, alice):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")

    response = client.post("/accounts/login/?next=/admin/", {"login": "alice", "password": "alice-password-1"}, follow=True)

    assert response.redirect_chain[-1][0] == "/admin/"
    assert "Canvases" in response.content.decode()
