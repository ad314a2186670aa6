"""The step pages a marketer works with: analytics, retries, the editor and Actalike audiences."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from audiences import services
from audiences.sending.pump import send_due_now
from audiences.models import Audience, Step, SyncRecord
from tests.conftest import make_users


def number(page: str, key: str) -> int:
    match = re.search(rf'id="number-{key}">\s*<div class="value">(\d+)</div>', page)
    assert match, f"no number {key} on the page"
    return int(match.group(1))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def step(add_canvas):
    return add_canvas.steps.get()


def test_it_shows_the_seven_numbers_after_a_sync(client, alice, add_canvas, step):
    services.users_enter(canvas=add_canvas, users=make_users(5) + [{"external_id": "no-email"}])
    send_due_now()
    client.force_login(alice)

    page = client.get(reverse("admin:audiences_step_analytics", args=[step.pk])).content.decode()

    assert number(page, "entered") == 6
    assert number(page, "synced") == 5
    assert number(page, "not_synced") == 1
    assert number(page, "pending") == 0
    assert number(page, "errored") == 0
    assert number(page, "proceeded") == 0
    assert number(page, "exited") == 6
    for label in ("Entered", "Proceeded to Next Step", "Users Synced", "Users Not Synced", "Users Pending",
                  "Users Errored", "Exited Canvas"):
        assert label in page
    assert "they are never sent" in page  # the explanation of Users Not Synced
    assert "<svg" in page and 'class="bar synced"' in page
    assert "Welcome audience" in page and "matched users cannot be targeted" in page
    assert "Accepted" in page  # the send log


def test_it_says_how_soon_synced_users_reached_pinterest(client, alice, add_canvas, step):
    client.force_login(alice)
    url = reverse("admin:audiences_step_analytics", args=[step.pk])
    assert 'id="time-to-pinterest"' not in client.get(url).content.decode()  # nobody synced yet

    # An hour back, so the rate limit ignores the send times taken on the way (see tests/test_ops_metrics.py).
    with time_machine.travel(timezone.now() - timedelta(hours=1), tick=False) as traveller:
        services.users_enter(canvas=add_canvas, users=make_users(19))
        traveller.shift(timedelta(seconds=4))
        send_due_now()
        services.users_enter(canvas=add_canvas, users=make_users(1, start=19))
        traveller.shift(timedelta(seconds=20))
        send_due_now()

    page = client.get(url).content.decode()
    # 19 of 20 users (95%) took 4 s, one took 20 s.
    assert "95% of the synced users reached Pinterest within 5 s of entering this step." in page

    with time_machine.travel(timezone.now() - timedelta(minutes=50), tick=False) as traveller:
        services.users_enter(canvas=add_canvas, users=make_users(10, start=100))
        traveller.shift(timedelta(seconds=20))
        send_due_now()

    page = client.get(url).content.decode()
    # 19 took 4 s, 11 took 20 s (in the bucket up to 30 s).
    assert ("Half of the synced users reached Pinterest within 5 s of entering this step, and 95% within 30 s."
            in page)


def test_it_retries_errored_users(client, alice, add_canvas, step):
    services.users_enter(canvas=add_canvas, users=make_users(3))
    services.records_error_expired(now=timezone.now() + timedelta(hours=14))
    client.force_login(alice)
    url = reverse("admin:audiences_step_analytics", args=[step.pk])

    page = client.get(url).content.decode()
    assert number(page, "errored") == 3
    assert "user-0" in page and "Not sent within the retry window." in page

    response = client.post(reverse("admin:audiences_step_retry", args=[step.pk]), follow=True)

    assert messages_of(response) == ["3 errored users will be sent again now."]
    assert number(response.content.decode(), "pending") == 3
    send_due_now()
    page = client.get(url).content.decode()
    assert number(page, "synced") == 3 and number(page, "errored") == 0


@pytest.fixture
def draft_step(acme, ad_account):
    canvas = services.canvas_create(workspace=acme, name="Draft")
    return services.step_create_audience_sync(canvas=canvas, ad_account=ad_account)


def editor_post(client, step, ad_account, **extra):
    data = {"name": "", "ad_account": ad_account.pk, "audience_name": "", "pinterest_audience_id": "",
            "action": "add", "match_email": "on", **extra}
    return client.post(reverse("admin:audiences_step_edit", args=[step.pk]), data, follow=True)


def test_it_creates_an_audience_from_the_step_editor(client, alice, draft_step, ad_account):
    client.force_login(alice)

    response = editor_post(client, draft_step, ad_account, audience_name="VIP buyers", _create_audience="1")

    assert messages_of(response)[0].startswith("Audience “VIP buyers” created.")
    draft_step.refresh_from_db()
    assert draft_step.audience.name == "VIP buyers"
    assert draft_step.audience.status == Audience.Status.DRAFT


def test_it_refuses_a_duplicate_audience_name(client, alice, acme, draft_step, ad_account):
    services.audience_create_draft(workspace=acme, ad_account=ad_account, name="VIP buyers")
    client.force_login(alice)

    response = editor_post(client, draft_step, ad_account, audience_name="vip buyers", _create_audience="1")

    [message] = messages_of(response)
    assert "already has an audience named “VIP buyers”: pick it from the search results" in message
    draft_step.refresh_from_db()
    assert draft_step.audience is None


def test_it_saves_action_and_match_fields(client, alice, draft_step, ad_account):
    client.force_login(alice)

    editor_post(client, draft_step, ad_account, name="Remove churned", action="remove", match_email="",
                match_idfa="on", match_android_aid="on")

    step = Step.objects.get(pk=draft_step.pk)
    assert (step.name, step.action, step.match_list_types) == ("Remove churned", "remove", ["IDFA", "MAID"])


def test_a_live_step_takes_name_and_match_fields_and_keeps_its_action(client, alice, step, ad_account):
    client.force_login(alice)

    response = editor_post(client, step, ad_account, name="Renamed", action="remove", match_email="",
                           match_idfa="on")

    step.refresh_from_db()
    assert (step.name, step.action, step.match_list_types) == ("Renamed", "add", ["IDFA"])
    assert "apply to users who reach this step from now on" in messages_of(response)[0]
    assert "The ad account, the audience and the action stay as they are" in response.content.decode()


def test_it_searches_and_binds_an_existing_pinterest_audience(client, alice, acme, add_canvas, step, ad_account, sandbox,
                                                              monkeypatch):
    monkeypatch.setattr(sandbox.state, "ready_threshold", 3)
    services.users_enter(canvas=add_canvas, users=make_users(3))
    send_due_now()
    services.audiences_sweep(force=True)
    seed = Audience.objects.get(name="Welcome audience")
    assert seed.pinterest_audience_id
    canvas = services.canvas_create(workspace=acme, name="Second")
    other = services.step_create_audience_sync(canvas=canvas, ad_account=ad_account)
    client.force_login(alice)

    found = client.get(
        reverse("admin:audiences_step_audience_search", args=[other.pk]), {"ad_account": ad_account.pk, "q": "welcome"}
    ).json()

    assert [item["id"] for item in found["items"]] == [seed.pinterest_audience_id]
    response = editor_post(client, other, ad_account, pinterest_audience_id=seed.pinterest_audience_id,
                           _use_existing="1")
    assert messages_of(response) == ["The step now syncs to the existing Pinterest audience “Welcome audience”."]
    other.refresh_from_db()
    assert other.audience == seed


def test_it_creates_an_actalike_audience_once_ready(client, alice, add_canvas, step, sandbox, monkeypatch):
    monkeypatch.setattr(sandbox.state, "ready_threshold", 3)
    services.users_enter(canvas=add_canvas, users=make_users(3))
    send_due_now()
    client.force_login(alice)
    url = reverse("admin:audiences_step_analytics", args=[step.pk])
    assert "Create Actalike audience" not in client.get(url).content.decode()
    services.audiences_sweep(force=True)
    assert Audience.objects.get(pk=step.audience_id).status == Audience.Status.READY

    assert 'id="create-actalike"' in client.get(url).content.decode()
    response = client.post(reverse("admin:audiences_step_actalike", args=[step.pk]),
                           {"country": "GB", "percentage": "3", "name": ""}, follow=True)

    [shown] = messages_of(response)
    created = [a for a in sandbox.state.audiences() if a["audience_type"] == "ACTALIKE"]
    assert len(created) == 1
    assert shown.startswith("Actalike audience “Welcome audience Actalike GB 3%” created on Pinterest")
    assert f"(audience id {created[0]['id']})" in shown
    assert created[0]["rule"]["percentage"] == 3


def test_it_refuses_a_percentage_out_of_range(client, alice, step):
    Audience.objects.filter(pk=step.audience_id).update(status=Audience.Status.READY, pinterest_audience_id="1")
    client.force_login(alice)

    response = client.post(reverse("admin:audiences_step_actalike", args=[step.pk]),
                           {"country": "US", "percentage": "11"}, follow=True)

    assert "Percentage: Ensure this value is less than or equal to 10." in messages_of(response)[0]
    assert SyncRecord.objects.count() == 0
