"""No external id in any log line: not ours, not Django's "Not Found: /api/v1/users/<id>/" warnings."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import quote

import pytest

from audiences import services
from ops import logs
from tests.api_support import acme_api, globex_api  # noqa: F401

pytestmark = pytest.mark.django_db

ACME_ID = "team/alice-7f3q"
GLOBEX_ID = "globex-bob-9k2w"
PROBE = "probe-carol-4m8z"
ALL_IDS = [ACME_ID, GLOBEX_ID, PROBE, "alice-7f3q", "team%2Falice-7f3q", quote(ACME_ID, safe="")]


@pytest.fixture
def every_line(caplog):
    """Every line logged during the test, as the text and JSON formats write it, and the raw records."""
    caplog.set_level(logging.DEBUG)
    plain, structured = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(plain), logging.StreamHandler(structured)]
    handlers[0].setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handlers[1].setFormatter(logs.json_formatter())
    root = logging.getLogger()
    for handler in handlers:
        handler.addFilter(logs.ContextFilter())
        root.addHandler(handler)
    try:
        yield lambda: [caplog.text, plain.getvalue(), structured.getvalue(),
                       json.dumps([str(vars(record)) for record in caplog.records])]
    finally:
        for handler in handlers:
            root.removeHandler(handler)


def test_no_id_reaches_a_log_line_across_the_api(sandbox, acme, globex, acme_api, globex_api, add_canvas,
                                                 every_line):
    entries = acme_api.post(f"/api/v1/canvases/{add_canvas.pk}/entries/",
                            {"users": [{"external_id": ACME_ID, "email": "alice@example.com"}]}, format="json")
    assert entries.status_code in (200, 201, 202), entries.content
    # Someone else's user, asked for by the wrong workspace's key.
    assert globex_api.delete(f"/api/v1/users/{quote(ACME_ID, safe='')}/").status_code == 404
    # Ids nobody holds, in every shape of path.
    assert acme_api.delete(f"/api/v1/users/{PROBE}/").status_code == 404
    assert acme_api.delete(f"/api/v1/users/{GLOBEX_ID}").status_code == 404  # no trailing slash
    assert acme_api.get(f"/api/v1/users/{PROBE}/?again={PROBE}").status_code in (404, 405)
    assert acme_api.delete(f"/api/v1//users/{PROBE}/").status_code == 404
    assert acme_api.delete(f"/api/v1/users/{'x' * 400}{PROBE}/").status_code in (400, 404)
    # An erasure, done.
    erased = acme_api.delete(f"/api/v1/users/{quote(ACME_ID, safe='')}/")
    assert erased.status_code == 202, erased.content
    services.privacy_requests_process()
    assert acme_api.get(f"/api/v1/privacy-requests/{erased.json()['id']}/").json()["status"] == "done"

    written = every_line()
    assert "Not Found: /api/v1/users/<id>/" in written[0]  # the warnings are still there, without the id
    for text in written:
        for external_id in ALL_IDS:
            assert external_id not in text
