"""Find a person in a real browser: from the admin home by its words, an email typed, the result read; at 1280 px,
at phone width (390 px) and in dark mode, nothing overflows and everything is readable."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.api_support import acme_api  # noqa: F401
from tests.browser_support import BROWSER_MARKS, browser  # noqa: F401
from tests.test_browser_marketer_small import LOW_CONTRAST, OVERFLOW
from tests.test_person_lookup import JANE, jane  # noqa: F401

pytestmark = BROWSER_MARKS

SCREENS = {
    "1280": {"viewport": {"width": 1280, "height": 900}},
    "390": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, "is_mobile": True},
    "dark": {"viewport": {"width": 1280, "height": 900}, "color_scheme": "dark"},
}


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("screen", SCREENS)
def test_a_marketer_finds_a_person_from_the_home_page(transactional_db, live_server, browser, bob, jane, shots,  # noqa: F811
                                                      screen):
    context = browser.new_context(**SCREENS[screen])
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "bob")
    page.fill("input[name=password]", "bob-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    page.get_by_role("link", name="Find a person").first.click()
    page.get_by_label("Email, mobile ad id or external id").fill("  Jane.Doe@Example.com ")
    page.get_by_role("button", name="Find").click()
    result = page.locator("#person-result")
    result.wait_for()
    text = result.inner_text()
    assert "Looked up as an email" in text
    assert "Welcome series" in text and "Synced" in text
    assert "Lapsed buyers" in text and "Errored" in text
    assert JANE not in page.url
    page.screenshot(path=str(shots / f"find-a-person-{screen}.png"), full_page=True)
    problems = page.evaluate(LOW_CONTRAST if screen == "dark" else OVERFLOW)
    context.close()
    assert problems == []
