"""The marketer's lists at 1280 px, light and dark: every column shows, names and numbers read as a marketer's.

A workspace admin (alice) sees every page of the menu. At 1280 px no list's
table is wider than its page (no column cut off); in dark mode no text is
unreadable, and the sign-in page is dark like the admin. Screenshots go to
pytest's tmp dir (or BROWSER_SHOTS when set).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser_support import BROWSER_MARKS, browser  # noqa: F401
from tests.conftest import make_users
from tests.test_browser_marketer_small import LOW_CONTRAST

pytestmark = BROWSER_MARKS

# Tables wider than the page's content: a column would be cut off or need scrolling.
WIDE_TABLES = """() => {
  const bad = [];
  for (const table of document.querySelectorAll("#changelist table, #content table")) {
    const box = table.getBoundingClientRect();
    if (box.right > window.innerWidth + 1) bad.push(`table ends at ${Math.round(box.right)}px`);
    for (const cell of table.querySelectorAll("th, td")) {
      if (cell.scrollWidth > cell.clientWidth + 1 && getComputedStyle(cell).overflow !== "visible") {
        bad.push(`cell cut: "${cell.textContent.trim().slice(0, 40)}"`);
      }
    }
  }
  return bad;
}"""

BACKGROUND = "() => getComputedStyle(document.querySelector('main') || document.body).backgroundColor"


@pytest.fixture
def lists(transactional_db, live_server, sandbox, alice, ad_account):
    from audiences import services
    from audiences.sending.pump import send_due_now

    workspace = alice.memberships.get().workspace
    canvas = services.canvas_create(workspace=workspace, name="Summer re-engagement")
    audience = services.audience_create_draft(workspace=workspace, ad_account=ad_account, name="Summer shoppers")
    step = services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience,
                                              name="Add shoppers", match_fields=["email", "ios_idfa"])
    services.canvas_launch(canvas=canvas)
    services.users_enter(canvas=canvas, users=make_users(60, idfa=True))
    send_due_now()
    services.audiences_sweep(force=True)
    return {
        "canvas": f"/admin/audiences/canvas/{canvas.pk}/change/",
        "analytics": f"/admin/audiences/canvas/step/{step.pk}/analytics/",
        "audiences": "/admin/audiences/audience/",
        "audit": "/admin/audiences/auditevent/",
        "requests": "/admin/audiences/sendlog/",
        "users": "/admin/audiences/syncrecord/",
        "suppression": "/admin/audiences/suppressedidentifier/",
        "alerts": "/admin/audiences/alertsettings/",
        "ad-accounts": "/admin/integrations/adaccount/",
        "home": "/admin/",
    }


def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("BROWSER_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def visit(browser, base, pages, folder, label, **options) -> tuple[dict, object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/accounts/login/")
    page.screenshot(path=str(folder / f"{label}-sign-in.png"), full_page=True)
    found, sign_in_background = {}, page.evaluate(BACKGROUND)
    if options.get("color_scheme") == "dark":
        found["sign-in"] = page.evaluate(LOW_CONTRAST)
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "alice-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    texts = {}
    for name, path in pages.items():
        page.goto(base + path)
        page.screenshot(path=str(folder / f"{label}-{name}.png"), full_page=True)
        texts[name] = page.inner_text("body")
        found[name] = page.evaluate(LOW_CONTRAST if options.get("color_scheme") == "dark" else WIDE_TABLES)
    context.close()
    return {name: problems for name, problems in found.items() if problems}, (sign_in_background, texts)


def test_it_shows_every_column_at_1280_px_in_a_marketers_words(lists, live_server, browser, tmp_path):
    problems, (background, texts) = visit(browser, live_server.url, lists, shots(tmp_path), "1280")
    assert problems == {}
    assert background == "rgb(255, 255, 255)"
    menu = texts["home"]
    for name in ("Requests to Pinterest", "Users in steps", "Suppression list"):
        assert name in menu
    for old in ("Send logs", "Sync records", "Suppressed identifiers"):
        assert old not in menu
    assert "Canvas launched" in texts["audit"]
    assert "canvas.launch" not in texts["audit"]  # the code is a tooltip, not the text
    assert "UTC" in texts["audiences"] and "UTC" in texts["requests"]


def test_it_is_dark_from_the_sign_in_page_on(lists, live_server, browser, tmp_path):
    problems, (background, _texts) = visit(browser, live_server.url, lists, shots(tmp_path), "dark",
                                           color_scheme="dark")
    assert problems == {}
    assert background != "rgb(255, 255, 255)"
