"""A marketer's week in a real browser (Chromium through Playwright), asserting what a person sees.

The overview of a dozen canvases, grouped errors and their retry, an add
step's new audience picked by a later remove step, and an audience's size
history with its sentence. Screenshots go to pytest's tmp dir.
"""

from __future__ import annotations

import re

from tests.browser_support import BROWSER_MARKS, browser  # noqa: F401
from tests.conftest import make_users

pytestmark = BROWSER_MARKS



def signed_in(browser, base: str, username: str, password: str, **options):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, **options)
    page.set_default_timeout(15_000)
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    return page


def test_it_lists_canvases_needing_attention_first_and_retries_one_cause(transactional_db, live_server, sandbox,
                                                                         bob, ad_account, browser, tmp_path):
    from audiences import services
    from audiences.sending.pump import send_due_now
    from tests.marketer_support import dozen_canvases

    made = dozen_canvases(bob.memberships.get().workspace, ad_account)
    # Five more users of the errored canvas, refused by Pinterest for good.
    sandbox.state.fail_next(1, 400)
    services.users_enter(canvas=made["errored"], users=make_users(5, start=9000))
    send_due_now()

    page = signed_in(browser, live_server.url, "bob", "bob-password-1")
    page.click("#open-overview")
    page.wait_for_selector(".overview-canvas")
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    cards = page.locator(".overview-canvas")
    assert cards.count() == 12
    first = cards.nth(0)
    assert first.locator("h2").inner_text() == "Lapsed buyers"
    assert "Needs attention" in first.inner_text()
    assert "12 errored users in step “Add to Lapsed buyers”." in first.inner_text()
    assert {cards.nth(1).locator("h2").inner_text(), cards.nth(2).locator("h2").inner_text()} == {
        "VIP preview", "Winter sale"}
    assert "Nothing sent to Pinterest for a day." in page.locator("section", has_text="Winter sale").inner_text()
    assert cards.nth(11).locator("h2").inner_text() == "Spring ideas"
    assert "Not live" in cards.nth(11).inner_text()

    # The errored figure leads to the errors, grouped by cause, each with its own retry.
    first.locator("td[data-label=Errored] a").click()
    page.wait_for_selector(".error-group")
    groups = page.locator(".error-group")
    assert groups.count() == 2
    text = page.locator("#errored-users").inner_text()
    assert "7 users: Not sent within the retry window" in text
    assert "5 users: Pinterest refused these users' data" in text
    refused = page.locator(".error-group", has_text="Pinterest refused")
    refused.locator("summary").click()
    assert refused.locator(".error-said").inner_text() == "Failed. · HTTP 400 · code 1"  # no request id
    page.screenshot(path=str(tmp_path / "errors.png"), full_page=True)
    page.locator(".error-group", has_text="Pinterest refused").locator("button.retry-group").click()
    page.wait_for_selector(".messagelist .success")
    assert "5 errored users will be sent again now." in page.inner_text(".messagelist")
    assert page.locator("#number-errored .value").inner_text() == "7"
    assert page.locator(".error-group").count() == 1


def test_a_remove_step_picks_the_audience_an_earlier_step_created(transactional_db, live_server, sandbox, bob,
                                                                  ad_account, browser, tmp_path):
    from audiences import services
    from audiences.models import Step

    workspace = bob.memberships.get().workspace
    canvas = services.canvas_create(workspace=workspace, name="Cart recovery")
    add = services.step_create_audience_sync(canvas=canvas, name="Add abandoners")
    remove = services.step_create_audience_sync(canvas=canvas, name="Remove buyers")

    page = signed_in(browser, live_server.url, "bob", "bob-password-1")
    page.goto(f"{live_server.url}/admin/audiences/canvas/step/{add.pk}/")
    page.select_option("#id_ad_account", str(ad_account.pk))
    page.fill("#id_audience_name", "Cart abandoners")
    page.wait_for_selector("#audience-results li.note")
    page.click("#create-audience")
    page.wait_for_selector(".messagelist .success")
    assert "Audience “Cart abandoners” created." in page.inner_text(".messagelist")

    page.goto(f"{live_server.url}/admin/audiences/canvas/step/{remove.pk}/")
    page.select_option("#id_ad_account", str(ad_account.pk))
    page.check("input[name=action][value=remove]")
    page.fill("#id_audience_name", "Cart")
    option = page.locator("#audience-results li.result", has_text="Cart abandoners")
    option.wait_for()
    assert "created in this workspace" in option.inner_text()
    page.screenshot(path=str(tmp_path / "remove-step-search.png"), full_page=True)
    option.dispatch_event("mousedown")
    page.wait_for_selector(".messagelist .success")
    assert "The step now uses the audience “Cart abandoners”." in page.inner_text(".messagelist")
    assert page.inner_text("#current-audience") == "Cart abandoners"
    add.refresh_from_db()
    remove.refresh_from_db()
    assert remove.audience_id == add.audience_id and remove.action == Step.Action.REMOVE


def test_an_audience_size_history_explains_identifiers_and_removals(transactional_db, live_server, sandbox, bob,
                                                                     ad_account, browser, tmp_path):
    from audiences import services
    from audiences.sending.pump import send_due_now

    workspace = bob.memberships.get().workspace
    fill = services.canvas_create(workspace=workspace, name="Fill")
    audience = services.audience_create_draft(workspace=workspace, ad_account=ad_account, name="Shoppers")
    step = services.step_create_audience_sync(canvas=fill, ad_account=ad_account, audience=audience,
                                              match_fields=["email", "ios_idfa", "android_aid"])
    services.canvas_launch(canvas=fill)
    users = make_users(120, idfa=True, aaid=True)
    services.users_enter(canvas=fill, users=users)
    send_due_now()
    services.audiences_sweep(force=True)  # the list is ready: the audience is made on Pinterest and read

    page = signed_in(browser, live_server.url, "bob", "bob-password-1")
    analytics = f"{live_server.url}/admin/audiences/canvas/step/{step.pk}/analytics/"
    page.goto(analytics)
    sentence = page.inner_text("#size-sentence")
    assert "Pinterest counts 360 identifiers, not users. The 120 users in this audience carried " \
           "120 emails, 120 iOS IDFAs and 120 Android ad ids (360 in all)." in sentence
    assert "outside" not in sentence and "read " in sentence and "UTC" in sentence
    assert page.locator("#size-history tbody tr").count() == 1
    assert "360" in page.inner_text("#size-history")
    page.screenshot(path=str(tmp_path / "size-filled.png"), full_page=True)

    # A remove step of another canvas takes every one of them out again.
    empty = services.canvas_create(workspace=workspace, name="Empty")
    services.step_create_audience_sync(canvas=empty, ad_account=ad_account, audience=audience, action="remove",
                                       match_fields=["email", "ios_idfa", "android_aid"])
    services.canvas_launch(canvas=empty)
    services.users_enter(canvas=empty, users=users)
    send_due_now()
    page.goto(analytics)
    sentence = page.inner_text("#size-sentence")
    assert "Every user sent to this audience from here has been removed again (120 users removed" in sentence
    assert "before the latest removals" in sentence

    page.click("#refresh-size")
    page.wait_for_selector(".messagelist .success")
    assert "Read from Pinterest just now" in page.inner_text(".messagelist")
    sentence = page.inner_text("#size-sentence")
    assert "has been removed again" in sentence and "before the latest removals" not in sentence
    assert "outside" not in sentence
    assert page.locator("#size-history tbody tr").count() == 2
    page.screenshot(path=str(tmp_path / "size-emptied.png"), full_page=True)
