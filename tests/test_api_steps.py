"""Partners build a canvas's steps: Audience Sync (new, existing or reused audience) and Delay."""

import pytest

from audiences import services
from audiences.models import Audience, Step
from tests.api_support import _fresh_throttle_counts, acme_api, error_of, pinterest_audience  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(acme):
    return services.canvas_create(workspace=acme, name="Win-back")


def steps_url(canvas):
    return f"/api/v1/canvases/{canvas.pk}/steps/"


def test_it_adds_a_delay_step(acme_api, draft):
    response = acme_api.post(steps_url(draft), {"kind": "delay", "delay_seconds": 3600, "name": "Wait"},
                             format="json")
    assert response.status_code == 201
    step = response.json()
    assert step["kind"] == "delay"
    assert step["delay_seconds"] == 3600
    assert (step["ad_account"], step["audience"], step["action"], step["match_fields"]) == (None, None, None, None)
    assert acme_api.get(f"/api/v1/steps/{step['id']}/").json() == step


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "delay"}, "delay_seconds"),
        ({"kind": "delay", "delay_seconds": 0}, "delay_seconds"),
        ({"kind": "delay", "delay_seconds": "60"}, "delay_seconds"),
        ({"kind": "delay", "delay_seconds": 60, "action": "add"}, "action"),
        ({"delay_seconds": 60}, "delay_seconds"),
        ({"match_fields": ["email", "phone"]}, "match_fields[1]"),
        ({"match_fields": ["email", "email"]}, "match_fields"),
        ({"action": "sync"}, "action"),
        ({"audience": {"new": "x", "id": 3}}, "audience"),
        ({"ad_account": "123456"}, "ad_account"),
        ({"kind": "email"}, "kind"),
        ({"delay": 60}, "delay"),
    ],
)
def test_it_refuses_a_bad_step_naming_the_field(acme_api, draft, body, field):
    response = acme_api.post(steps_url(draft), body, format="json")
    assert response.status_code == 400, response.json()
    assert field in error_of(response)["details"]["fields"], response.json()
    assert not Step.objects.exists()


def test_it_adds_a_sync_step_with_a_new_audience(acme_api, draft, ad_account):
    response = acme_api.post(
        steps_url(draft),
        {"ad_account": ad_account.pinterest_id, "audience": {"new": "Lapsed buyers"}, "action": "add",
         "match_fields": ["email", "ios_idfa"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    step = response.json()
    assert step["kind"] == "audience_sync"
    assert step["ad_account"] == ad_account.pinterest_id
    assert step["audience"]["name"] == "Lapsed buyers"
    assert step["audience"]["source"] == "new"
    assert step["audience"]["status"] == "draft"
    assert step["match_fields"] == ["email", "ios_idfa"]
    assert step["delay_seconds"] is None


def test_a_remove_step_reuses_the_add_steps_audience(acme_api, draft, ad_account):
    add = acme_api.post(steps_url(draft), {"ad_account": ad_account.pinterest_id,
                                           "audience": {"new": "Lapsed buyers"}}, format="json").json()
    acme_api.post(steps_url(draft), {"kind": "delay", "delay_seconds": 30 * 86400}, format="json")
    remove = acme_api.post(steps_url(draft), {"ad_account": ad_account.pinterest_id, "action": "remove",
                                              "audience": {"id": add["audience"]["id"]}}, format="json")
    assert remove.status_code == 201, remove.json()
    assert remove.json()["audience"] == add["audience"]
    assert Audience.objects.count() == 1

    steps = acme_api.get(steps_url(draft)).json()
    assert [(s["kind"], s["action"], s["position"]) for s in steps] == [
        ("audience_sync", "add", 0), ("delay", None, 1), ("audience_sync", "remove", 2)]
    launched = acme_api.post(f"/api/v1/canvases/{draft.pk}/launch/")
    assert launched.status_code == 200, launched.json()


def test_it_uses_an_existing_pinterest_audience(acme_api, draft, sandbox, ad_account):
    remote_id = pinterest_audience(sandbox, ad_account, "Newsletter subscribers")
    response = acme_api.post(steps_url(draft), {"ad_account": ad_account.pinterest_id, "audience": remote_id},
                             format="json")
    assert response.status_code == 201, response.json()
    audience = response.json()["audience"]
    assert audience["source"] == "existing"
    assert audience["pinterest_audience_id"] == remote_id
    assert audience["name"] == "Newsletter subscribers"


def test_an_unknown_pinterest_audience_is_a_400_naming_it(acme_api, draft, ad_account):
    response = acme_api.post(steps_url(draft), {"ad_account": ad_account.pinterest_id, "audience": "999999"},
                             format="json")
    assert response.status_code == 400
    assert "999999" in error_of(response)["message"]
    assert not Step.objects.exists()


def test_a_new_audience_whose_name_is_taken_creates_nothing(acme_api, draft, ad_account, acme):
    services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Taken")
    response = acme_api.post(steps_url(draft), {"ad_account": ad_account.pinterest_id,
                                                "audience": {"new": "taken"}}, format="json")
    assert response.status_code == 400
    assert "already exists" in error_of(response)["message"]
    assert not Step.objects.exists()


def test_a_disabled_ad_account_is_refused(acme_api, draft, connection):
    disabled = connection.ad_accounts.order_by("pinterest_id").last()
    disabled.enabled = False
    disabled.save()
    response = acme_api.post(steps_url(draft), {"ad_account": disabled.pinterest_id}, format="json")
    assert response.status_code == 400
    assert "not enabled" in error_of(response)["details"]["fields"]["ad_account"][0]


def test_it_changes_a_step_of_a_draft_canvas(acme_api, draft, ad_account):
    step = acme_api.post(steps_url(draft), {"ad_account": ad_account.pinterest_id,
                                            "audience": {"new": "A"}}, format="json").json()
    response = acme_api.patch(f"/api/v1/steps/{step['id']}/",
                              {"action": "remove", "match_fields": ["android_aid"], "name": "Out"}, format="json")
    assert response.status_code == 200, response.json()
    changed = response.json()
    assert (changed["action"], changed["match_fields"], changed["name"]) == ("remove", ["android_aid"], "Out")
    assert changed["audience"] == step["audience"]

    response = acme_api.patch(f"/api/v1/steps/{step['id']}/", {"kind": "delay"}, format="json")
    assert response.status_code == 400
    assert "kind" in error_of(response)["details"]["fields"]


def test_it_changes_a_delay(acme_api, draft):
    step = services.step_create_delay(canvas=draft, seconds=60)
    response = acme_api.patch(f"/api/v1/steps/{step.pk}/", {"delay_seconds": 120}, format="json")
    assert response.status_code == 200
    assert response.json()["delay_seconds"] == 120
    response = acme_api.patch(f"/api/v1/steps/{step.pk}/", {"match_fields": ["email"]}, format="json")
    assert response.status_code == 400


def test_steps_of_a_launched_canvas_cannot_change(acme_api, add_canvas):
    step = add_canvas.steps.get()
    for response in (
        acme_api.patch(f"/api/v1/steps/{step.pk}/", {"action": "remove"}, format="json"),
        acme_api.delete(f"/api/v1/steps/{step.pk}/"),
        acme_api.post(steps_url(add_canvas), {"kind": "delay", "delay_seconds": 60}, format="json"),
    ):
        assert response.status_code == 409
        error = error_of(response)
        assert error["code"] == "not_allowed"
        assert error["message"] == "Stop the canvas before changing its steps."
    step.refresh_from_db()
    assert step.action == Step.Action.ADD
    assert add_canvas.steps.count() == 1


def test_it_deletes_a_step_of_a_draft_canvas(acme_api, draft):
    step = services.step_create_delay(canvas=draft, seconds=60)
    assert acme_api.delete(f"/api/v1/steps/{step.pk}/").status_code == 204
    assert not Step.objects.filter(pk=step.pk).exists()
