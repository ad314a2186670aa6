"""Partners build a canvas's steps: Audience Sync (new, existing or reused audience) and Delay."""

import pytest

from audiences import services
from audiences.models import Audience, Canvas, Step, SyncRecord
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


def test_a_live_step_refuses_what_would_split_its_users_and_says_why(acme_api, add_canvas):
    step = add_canvas.steps.get()
    refusals = {
        "action": acme_api.patch(f"/api/v1/steps/{step.pk}/", {"action": "remove"}, format="json"),
        "audience": acme_api.patch(f"/api/v1/steps/{step.pk}/", {"audience": {"new": "Other"}}, format="json"),
    }
    for field, response in refusals.items():
        assert response.status_code == 409, (field, response.json())
        assert error_of(response)["code"] == "not_allowed"
        assert error_of(response)["message"].startswith(f"A live step keeps its {field}")
    for response in (acme_api.delete(f"/api/v1/steps/{step.pk}/"),
                     acme_api.post(steps_url(add_canvas), {"kind": "delay", "delay_seconds": 60}, format="json")):
        assert response.status_code == 409
        assert error_of(response)["message"] == "Stop the canvas before changing its steps."
    step.refresh_from_db()
    assert step.action == Step.Action.ADD
    assert add_canvas.steps.count() == 1


def test_a_live_step_takes_a_new_name_and_match_fields_for_users_who_enter_next(acme_api, add_canvas):
    step = add_canvas.steps.get()
    same_action = acme_api.patch(f"/api/v1/steps/{step.pk}/", {"action": "add", "name": "Buyers"}, format="json")
    assert same_action.status_code == 200  # a value sent again unchanged is not a change
    changed = acme_api.patch(f"/api/v1/steps/{step.pk}/", {"match_fields": ["ios_idfa"]}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["match_fields"] == ["ios_idfa"] and changed.json()["name"] == "Buyers"

    entered = acme_api.post(f"/api/v1/canvases/{add_canvas.pk}/entries/", {"users": [
        {"external_id": "e1", "email": "ann@example.com"},
        {"external_id": "e2", "email": "bob@example.com", "ios_idfa": "6D92078A-8246-4BA4-AE5B-76104861E7DC"}]},
        format="json")
    assert entered.status_code in (200, 202)
    records = {r.external_id: r for r in SyncRecord.objects.filter(step=step)}
    assert records["e1"].state == SyncRecord.State.NOT_SYNCED  # an email alone no longer matches
    assert records["e2"].state == SyncRecord.State.PENDING and not records["e2"].email_hash


def test_a_live_delay_takes_a_new_wait_for_users_who_reach_it_next(acme_api, add_canvas):
    Canvas.objects.filter(pk=add_canvas.pk).update(status=Canvas.Status.DRAFT)  # steps are added before a launch
    delay = services.step_create_delay(canvas=Canvas.objects.get(pk=add_canvas.pk), seconds=60)
    Canvas.objects.filter(pk=add_canvas.pk).update(status=Canvas.Status.ACTIVE)
    response = acme_api.patch(f"/api/v1/steps/{delay.pk}/", {"delay_seconds": 3600}, format="json")
    assert response.status_code == 200 and response.json()["delay_seconds"] == 3600


def test_it_deletes_a_step_of_a_draft_canvas(acme_api, draft):
    step = services.step_create_delay(canvas=draft, seconds=60)
    assert acme_api.delete(f"/api/v1/steps/{step.pk}/").status_code == 204
    assert not Step.objects.filter(pk=step.pk).exists()
