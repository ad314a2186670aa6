"""The marketer's main pages at phone width (390 px) and in dark mode: nothing overflows, nothing is unreadable.

Checked in the page, not only by eye: no text container's content is wider
than its box, the page is no wider than the screen, and (in dark mode) every
text has enough contrast against the background it sits on. Screenshots are
saved to pytest's tmp dir.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.browser_support import BROWSER_MARKS, browser  # noqa: F401
from tests.conftest import make_users

pytestmark = BROWSER_MARKS

# Elements with text of their own whose content is wider than their box, and the page's own width.
OVERFLOW = """() => {
  const bad = [];
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth > width) {
    bad.push(`page is ${document.documentElement.scrollWidth}px wide on a ${width}px screen`);
  }
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg, script, style, noscript, [hidden], .visually-hidden")) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden" || el.clientWidth === 0) continue;
    const ownText = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!ownText) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      bad.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}.${el.className}: ` +
               `${el.scrollWidth} > ${el.clientWidth} "${el.textContent.trim().slice(0, 40)}"`);
    }
    const box = el.getBoundingClientRect();
    if (box.right > width + 1 && style.position !== "fixed") {
      bad.push(`${el.tagName.toLowerCase()}.${el.className} ends at ${Math.round(box.right)}px: ` +
               `"${el.textContent.trim().slice(0, 40)}"`);
    }
  }
  return bad;
}"""

# Text whose contrast with the background behind it is under 3:1 (WCAG's floor for large text).
LOW_CONTRAST = """() => {
  const parse = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = el => {
    for (let node = el; node; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg, script, style, [hidden], .visually-hidden, option")) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden" || el.clientWidth === 0) continue;
    const ownText = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!ownText) continue;
    const fg = lum(parse(style.color).slice(0, 3)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 3) bad.push(`${el.tagName.toLowerCase()}.${el.className} ${ratio.toFixed(2)}: "${el.textContent.trim().slice(0, 40)}"`);
  }
  return bad;
}"""



@pytest.fixture
def marketer_pages(transactional_db, live_server, sandbox, bob, ad_account):
    """A live canvas with a synced, a refused and an errored step's worth of users; the main pages' paths."""
    from audiences import services
    from audiences.sending.pump import send_due_now

    workspace = bob.memberships.get().workspace
    canvas = services.canvas_create(workspace=workspace, name="Demo workspace's summer re-engagement journey")
    audience = services.audience_create_draft(workspace=workspace, ad_account=ad_account,
                                              name="Summer re-engagement shoppers who abandoned a cart")
    step = services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience,
                                              name="Add shoppers to the summer audience",
                                              match_fields=["email", "ios_idfa", "android_aid"])
    services.step_create_delay(canvas=canvas, seconds=3600, name="Wait an hour")
    services.canvas_launch(canvas=canvas)
    with time_machine.travel(timezone.now() - timedelta(hours=14), tick=False):
        services.users_enter(canvas=canvas, users=make_users(3, start=500))
    services.records_error_expired()
    services.users_enter(canvas=canvas, users=make_users(120, idfa=True, aaid=True))
    send_due_now()
    services.audiences_sweep(force=True)
    return {
        "home": "/admin/",
        "overview": "/admin/audiences/canvas/overview/",
        "canvas": f"/admin/audiences/canvas/{canvas.pk}/change/",
        "analytics": f"/admin/audiences/canvas/step/{step.pk}/analytics/",
        "editor": f"/admin/audiences/canvas/step/{step.pk}/",
    }


def visit_all(browser, base: str, pages: dict, tmp_path, label: str, **options) -> dict[str, list[str]]:
    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/accounts/login/")
    found = {}
    if options.get("color_scheme") == "dark":
        found["sign-in"] = page.evaluate(LOW_CONTRAST)
    page.screenshot(path=str(tmp_path / f"{label}-sign-in.png"), full_page=True)
    page.fill("input[name=login]", "bob")
    page.fill("input[name=password]", "bob-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    for name, path in pages.items():
        page.goto(base + path)
        page.screenshot(path=str(tmp_path / f"{label}-{name}.png"), full_page=True)
        found[name] = page.evaluate(LOW_CONTRAST if options.get("color_scheme") == "dark" else OVERFLOW)
    context.close()
    return {name: problems for name, problems in found.items() if problems}


def test_the_main_pages_fit_a_phone(marketer_pages, live_server, browser, tmp_path):
    problems = visit_all(browser, live_server.url, marketer_pages, tmp_path, "390",
                         viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True)
    assert problems == {}


def test_the_main_pages_are_readable_in_dark_mode(marketer_pages, live_server, browser, tmp_path):
    problems = visit_all(browser, live_server.url, marketer_pages, tmp_path, "dark",
                         viewport={"width": 1280, "height": 900}, color_scheme="dark")
    assert problems == {}
