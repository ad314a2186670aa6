"""An upload in a real browser (Chromium through Playwright): the job's page shows progress, then the result."""

from __future__ import annotations

import re
import threading

from tests.browser_support import BROWSER_MARKS, browser  # noqa: F401

pytestmark = BROWSER_MARKS


def test_an_upload_shows_its_progress_then_its_result(transactional_db, live_server, settings, tmp_path, bob,
                                                      add_canvas, browser):
    from django.db import connection as db_connection
    from playwright.sync_api import expect

    from audiences.models import ImportJob
    from audiences.services import imports

    settings.IMPORTS_ROOT = tmp_path / "imports"
    settings.IMPORT_BATCH_SIZE = 500
    csv = tmp_path / "spring.csv"
    csv.write_text("External ID;Email\n" + "".join(f"u{i};u{i}@example.org\n" for i in range(3000)))

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "bob")
    page.fill("input[name=password]", "bob-password-1")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    page.goto(f"{live_server.url}/admin/audiences/canvas/{add_canvas.pk}/change/")
    page.set_input_files("#users-csv", str(csv))
    page.click("#upload-submit")
    page.wait_for_selector("#import-job")
    assert page.locator("#import-state").inner_text() == "Queued"

    # The worker enters the first batch, then waits until the page has shown it.
    job = ImportJob.objects.get()
    seen = threading.Event()

    def worker_pauses_once(progress: ImportJob) -> None:
        if progress.state == "entering" and progress.rows_entered == 500:
            seen.wait(timeout=30)

    def worker_runs_the_job() -> None:
        try:
            imports.import_run(job_id=job.pk, seconds=0, progress=worker_pauses_once)
        finally:
            db_connection.close()  # a thread's connection would outlive the test database

    worker = threading.Thread(target=worker_runs_the_job)
    worker.start()
    try:
        expect(page.locator("#rows-entered")).to_have_text("500", timeout=30_000)  # the page polls its status
        assert page.locator("#import-state").inner_text() == "Entering"
        assert page.locator("#rows-read").inner_text() == "3,000"
        page.screenshot(path=str(tmp_path / "import-running.png"), full_page=True)
    finally:
        seen.set()
        worker.join(timeout=120)

    page.wait_for_selector("#import-job[data-state=done]")  # the page reloads once the job has ended
    assert "3,000 users entered: 3,000 pending" in page.locator("#import-message").inner_text()
    page.screenshot(path=str(tmp_path / "import-done.png"), full_page=True)
    for name, options in (("phone", {"viewport": {"width": 390, "height": 844}}),
                          ("dark", {"viewport": {"width": 1280, "height": 900}, "color_scheme": "dark"})):
        other = browser.new_context(storage_state=page.context.storage_state(), **options).new_page()
        other.goto(page.url)
        other.screenshot(path=str(tmp_path / f"import-done-{name}.png"), full_page=True)
    page.goto(f"{live_server.url}/admin/audiences/canvas/{add_canvas.pk}/change/")
    history = page.locator("#upload-history")
    assert "spring.csv" in history.inner_text() and "Done" in history.inner_text()
    history.screenshot(path=str(tmp_path / "upload-history.png"))

    # The same file again the same day: the page asks first, and Cancel enters nobody.
    page.set_input_files("#users-csv", str(csv))
    page.click("#upload-submit")
    page.wait_for_selector("#import-job[data-state=confirm]")
    question = page.locator("#import-confirm-question").inner_text()
    assert "spring.csv" in question or "same file" in question, question
    assert page.locator("#import-confirm").inner_text().lower() == "import it again"  # styled in capitals
    page.screenshot(path=str(tmp_path / "import-again.png"), full_page=True)
    page.click("#import-cancel")
    page.wait_for_selector("#import-job[data-state=cancelled]")
    from audiences.models import SyncRecord
    assert SyncRecord.objects.filter(step__canvas=add_canvas).count() == 3000
    print(f"screenshots in {tmp_path}")
