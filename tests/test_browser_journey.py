"""A marketer's whole journey in a real browser (Chromium through Playwright).

Sign in, connect Pinterest through the sandbox's consent page, choose an ad
account, build a canvas with an Audience Sync step, create its audience in
the step editor, launch, let users in, and watch Users Synced reach the
count. Each page is saved as a screenshot under test-artifacts/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import make_users

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
)


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's async guard must not mistake it for async code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        # What the browser refused under the Content-Security-Policy, on any page of the journey.
        page.csp_violations = []
        page.on("console", lambda message: page.csp_violations.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text else None)
        yield page
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_it_takes_a_marketer_from_sign_in_to_synced_users(transactional_db, live_server, sandbox, alice, browser_page):
    from audiences import services
    from audiences.sending.pump import send_due_now
    from audiences.models import Canvas

    page = browser_page
    base = live_server.url

    # Sign in: /admin/ sends the marketer to allauth's sign-in page.
    page.goto(f"{base}/admin/")
    assert "/accounts/login/" in page.url
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "alice-password-1")
    shot(page, "01-sign-in")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    shot(page, "02-admin-home")

    # Connect Pinterest on the workspace's Pinterest page, through the sandbox's consent page.
    page.goto(f"{base}/pinterest/acme/")
    shot(page, "03-pinterest-page")
    page.check("#accept-terms")
    page.click("#connect")
    page.wait_for_selector("#allow")
    page.fill("#username", "acme-ads")
    shot(page, "04-consent")
    page.click("#allow")
    page.wait_for_url(re.compile(r"/pinterest/acme/ad-accounts/"))
    page.locator("#ad-accounts-form input[type=checkbox]").first.check()
    shot(page, "05-ad-accounts")
    page.click("#ad-accounts-form input[type=submit]")
    page.wait_for_url(re.compile(r"/pinterest/acme/$"))
    assert "may use 1 ad account" in page.content()

    # A canvas with one Audience Sync step.
    page.goto(f"{base}/admin/audiences/canvas/add/")
    page.fill("#id_name", "Welcome series")
    page.click("#steps-group .add-row a")
    page.select_option("#id_steps-0-kind", "audience_sync")
    page.fill("#id_steps-0-name", "Add new customers")
    shot(page, "06-canvas-add")
    page.click("input[name=_continue]")
    page.wait_for_selector("a.step-edit")
    canvas = Canvas.objects.get(name="Welcome series")
    step = canvas.steps.get()
    shot(page, "07-canvas")

    # The step editor: pick the ad account, look for an audience, create a new one.
    page.click("a.step-edit")
    page.wait_for_selector("#step-form")
    page.select_option("#id_ad_account", index=1)
    page.fill("#id_audience_name", "Welcome buyers")
    page.wait_for_selector("#audience-results li.note")
    assert "Click Create audience" in page.inner_text("#audience-results")
    shot(page, "08-step-editor-search")
    page.click("#create-audience")
    page.wait_for_selector(".messagelist .success")
    assert "Audience “Welcome buyers” created." in page.inner_text(".messagelist")
    shot(page, "09-step-editor-created")

    # Launch.
    page.goto(f"{base}/admin/audiences/canvas/{canvas.pk}/change/")
    page.click("#launch-canvas")
    page.wait_for_selector(".messagelist .success")
    assert "is live" in page.inner_text(".messagelist")
    assert page.locator("#stop-canvas").count() == 1
    shot(page, "10-canvas-live")
    page.goto(f"{base}/admin/audiences/canvas/")
    assert "Welcome series" in page.inner_text("#result_list")
    shot(page, "10b-canvas-list")

    # Users enter and are sent; the analytics page shows them synced.
    services.users_enter(canvas=Canvas.objects.get(pk=canvas.pk), users=make_users(25) + [{"external_id": "anon"}])
    send_due_now()
    page.goto(f"{base}/admin/audiences/canvas/step/{step.pk}/analytics/")
    assert page.inner_text("#number-synced .value") == "25"
    assert page.inner_text("#number-entered .value") == "26"
    assert page.inner_text("#number-not_synced .value") == "1"
    assert page.locator("svg.hourly-chart rect.bar.synced").count() >= 1
    shot(page, "11-step-analytics")

    # The API docs: Swagger UI starts and shows the operations under the same policy.
    page.goto(f"{base}/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .opblock")
    shot(page, "12-api-docs")
    assert page.csp_violations == []


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/admin/")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "alice-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def boxes_overlap(a: dict, b: dict) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def seed_pinterest_audiences(sandbox, ad_account, n: int) -> None:
    user = next(u for u in sandbox.state.users.values() if ad_account.pinterest_id in u.ad_account_ids)
    lst = sandbox.state.create_list(user, ad_account.pinterest_id,
                                    {"name": "seed", "records": ",".join(f"{i:064x}" for i in range(100))})
    for i in range(n):
        sandbox.state.create_audience(user, ad_account.pinterest_id, {
            "name": f"Existing buyers {i:02d}", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": lst["id"]}})


def test_it_lets_a_marketer_pick_upload_reconnect_and_read_the_figures(
    transactional_db, live_server, sandbox, alice, acme, connection, browser_page, tmp_path
):
    from audiences import services
    from audiences.services import imports
    from audiences.models import Audience, Canvas, ImportJob
    from audiences.sending.pump import send_due_now
    from integrations.services.connections import connection_mark_invalid

    page = browser_page
    base = live_server.url
    ad_account = connection.ad_accounts.order_by("pinterest_id").first()
    seed_pinterest_audiences(sandbox, ad_account, 30)
    sign_in(page, base)
    shot(page, "20-home-connected")
    assert page.locator("#pinterest-home a[href='/pinterest/acme/']").count() >= 1

    # 3. The picker: results float over the page, the first is visible and clickable, keys pick one.
    picking = services.canvas_create(workspace=acme, name="Loyal buyers journey")
    step = services.step_create_audience_sync(canvas=picking, ad_account=ad_account, name="Sync loyal buyers")
    page.goto(f"{base}/admin/audiences/canvas/step/{step.pk}/")
    page.click("#id_audience_name")  # focus lists the ad account's audiences, a page at a time
    page.wait_for_selector("#audience-results li.result")
    first = page.locator("#audience-results li.result").first
    box = first.bounding_box()
    assert box and box["height"] >= 20 and 0 <= box["y"] and box["y"] + box["height"] <= 900
    assert page.evaluate(
        """([x, y]) => { const el = document.elementFromPoint(x, y); const li = el && el.closest('li');
             return li === document.querySelector('#audience-results li.result'); }""",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert page.get_attribute("#id_audience_name", "role") == "combobox"
    assert page.get_attribute("#id_audience_name", "aria-expanded") == "true"
    assert page.locator("#audience-results li.result").count() == 25
    shot(page, "21-picker-results")
    page.keyboard.press("End")
    page.keyboard.press("Enter")  # on "Load more audiences"
    # A function, not an expression: Playwright evaluates an expression with eval(), which the page's CSP refuses.
    page.wait_for_function("() => document.querySelectorAll('#audience-results li.result').length === 30")
    shot(page, "22-picker-more")
    page.keyboard.press("Home")
    page.keyboard.press("ArrowDown")
    chosen = page.inner_text("#audience-results li.active .name")
    assert page.get_attribute("#id_audience_name", "aria-activedescendant") == "audience-option-1"
    page.keyboard.press("Enter")
    page.wait_for_selector(".messagelist .success")
    assert f"existing Pinterest audience “{chosen}”" in page.inner_text(".messagelist")
    shot(page, "23-picker-picked")

    # 1 and 7. A mixed-identifier step; users arrive by CSV upload; the figures agree with Pinterest's.
    mixed = services.canvas_create(workspace=acme, name="Everyone")
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Everyone on Pinterest")
    mixed_step = services.step_create_audience_sync(canvas=mixed, ad_account=ad_account, audience=audience,
                                                    match_fields=("email", "ios_idfa", "android_aid"))
    services.canvas_launch(canvas=mixed)
    rows = ["external_id,email,ios_idfa,android_aid"]
    rows += [f"e{i},person{i}@example.com,," for i in range(110)]
    rows += [f"i{i},,{i:08x}-aaaa-bbbb-cccc-ddddeeeeffff," for i in range(12)]
    rows += [f"m{i},,,{i:08x}-aaaa-bbbb-cccc-ddddeeeeffff" for i in range(6)]
    csv_file = tmp_path / "users.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    page.goto(f"{base}/admin/audiences/canvas/{mixed.pk}/change/")
    assert page.inner_text("#canvas-id") == str(mixed.pk)
    assert f"--canvas {mixed.pk}" not in page.inner_text("#canvas-ids")  # developers' commands are folded away
    page.click("#for-developers summary")
    assert f"--canvas {mixed.pk}" in page.inner_text("#canvas-ids")
    page.set_input_files("#users-csv", str(csv_file))
    shot(page, "24-canvas-upload")
    page.click("#upload-submit")
    page.wait_for_selector("#import-job")  # the upload is a job: its page follows it
    imports.import_run(job_id=ImportJob.objects.get(canvas=mixed).pk, seconds=0)  # what a worker runs
    page.wait_for_selector("#import-job[data-state=done]")
    assert "128 users entered" in page.inner_text("#import-message")
    shot(page, "25-canvas-uploaded")
    send_due_now()
    services.audiences_sweep(force=True)
    audience = Audience.objects.get(pk=audience.pk)
    remote = {a["id"]: a for a in sandbox.state.audiences()}[audience.pinterest_audience_id]
    page.goto(f"{base}/admin/audiences/canvas/step/{mixed_step.pk}/analytics/")
    assert page.inner_text("#number-synced .value") == "128"
    assert remote["size"] == 128
    assert page.inner_text("#audience-size").strip().startswith("128 identifiers")
    assert page.inner_text("#audience-members").strip() == "128"
    assert page.inner_text("#sent-email .count") == "110"
    assert page.inner_text("#sent-idfa .count") == "12"
    assert page.inner_text("#sent-maid .count") == "6"
    shot(page, "26-mixed-analytics")

    # 2. Reconnect as another Pinterest user: a launch that uses the old account is refused and flagged.
    old = services.canvas_create(workspace=acme, name="Old account journey")
    old_audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Old account buyers")
    services.step_create_audience_sync(canvas=old, ad_account=ad_account, audience=old_audience)
    page.goto(f"{base}/pinterest/acme/")
    assert page.inner_text("#connected-as") == "acme-ads"
    page.click("#disconnect")
    page.click("#confirm-disconnect")
    page.wait_for_url(re.compile(r"/pinterest/acme/$"))
    page.check("#accept-terms")
    page.click("#connect")
    page.wait_for_selector("#allow")
    page.fill("#username", "other-ads")
    assert page.inner_text("#granting-username") == "other-ads"
    shot(page, "27-consent-other-user")
    page.click("#allow")
    page.wait_for_url(re.compile(r"/pinterest/acme/ad-accounts/"))
    assert "not visible to other-ads" in page.inner_text(".messagelist")
    shot(page, "28-ad-accounts-other-user")
    page.goto(f"{base}/pinterest/acme/")
    assert page.inner_text("#connected-as") == "other-ads"
    assert str(ad_account) in page.inner_text("#unavailable-ad-accounts")
    shot(page, "29-pinterest-page-other-user")
    page.goto(f"{base}/admin/audiences/canvas/{old.pk}/change/")
    page.click("#launch-canvas")
    page.wait_for_selector(".messagelist .error")
    assert "cannot see" in page.inner_text(".messagelist")
    assert Canvas.objects.get(pk=old.pk).status == Canvas.Status.DRAFT
    assert "is not available: other-ads cannot see it." in page.inner_text("#connection-banner")
    assert not boxes_overlap(page.locator("#connection-banner").bounding_box(),
                             page.locator("#launch-canvas").bounding_box())
    shot(page, "30-canvas-refused")

    # 4. An invalid token: a grammatical banner on the home and canvas pages, clear of their buttons.
    from integrations.models import PinterestConnection

    connection_mark_invalid(connection=PinterestConnection.objects.get(workspace=acme),
                            reason="Refreshing the token failed: Invalid refresh token · HTTP 400 · code 1")
    page.goto(f"{base}/admin/")
    banner = page.inner_text("#connection-banner")
    assert banner.startswith("Pinterest needs reconnecting for Acme")
    assert "Invalid refresh token" not in banner.split("Technical detail")[0]
    shot(page, "31-home-invalid")
    page.goto(f"{base}/admin/audiences/canvas/{mixed.pk}/change/")
    banner_box = page.locator("#connection-banner").bounding_box()
    for selector in ("#stop-canvas", ".object-tools a"):
        for i in range(page.locator(selector).count()):
            assert not boxes_overlap(banner_box, page.locator(selector).nth(i).bounding_box()), selector
    shot(page, "32-canvas-invalid")
    page.goto(f"{base}/admin/audiences/canvas/step/{mixed_step.pk}/analytics/")
    shot(page, "33-analytics-invalid")
    assert page.csp_violations == []
