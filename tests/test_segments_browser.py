"""A marketer decides a waiting snapshot on the segment's page, in a real browser, wide, narrow and dark."""

from __future__ import annotations

import re

import pytest

from tests.segments_support import segment_of, snapshot_send
from tests.test_browser_journey import CHROMIUM, browser_page, shot, sign_in  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not __import__("os").path.exists(CHROMIUM),
                                                   reason=f"Chromium is not installed at {CHROMIUM}")]


def test_it_shows_the_snapshots_and_confirms_a_waiting_one(transactional_db, live_server, sandbox, alice, add_canvas,
                                                          browser_page, tmp_path, settings):
    import sqlite3

    from audiences.services import sources

    segment = segment_of(add_canvas)
    snapshot_send(segment, range(40))
    waiting = snapshot_send(segment, range(5))
    settings.SEGMENT_SOURCE_SQLITE_DIR = str(tmp_path)
    db = sqlite3.connect(tmp_path / "crm.sqlite3")
    db.execute("CREATE TABLE customers (id integer, mail text)")
    db.commit(), db.close()
    source = sources.source_create(segment=segment, url=f"sqlite:///{tmp_path}/crm.sqlite3",
                                   query="SELECT 'user-' || id AS external_id, mail AS email FROM customers",
                                   every_minutes=60)
    sources.source_run(source, trigger="alice")  # no rows: the run fails and changes nothing

    page = browser_page
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/audiences/segment/{segment.pk}/change/")
    rows = page.locator("#segment-snapshots tbody tr")
    assert rows.count() == 3
    assert "Waiting for confirmation" in rows.nth(1).inner_text()  # newest first: the source's failed run on top
    assert "no rows" in page.locator("#source-runs").inner_text()
    shot(page, "segment-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "segment-390")
    page.emulate_media(color_scheme="dark")
    shot(page, "segment-dark")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.click("#segment-snapshots button:has-text('Confirm')")
    page.wait_for_url(re.compile(r"/change/$"))
    assert "Committed: 0 added, 35 removed." in page.content()
    waiting.refresh_from_db()
    assert waiting.state == "committed"
    assert page.locator("#segment-members").inner_text() == "5"
    assert not page.csp_violations
