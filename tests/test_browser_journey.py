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
    assert "Click Create Audience" in page.inner_text("#audience-results")
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
