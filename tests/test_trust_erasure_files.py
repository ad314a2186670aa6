"""Once an erasure is done, the erased id is in neither SQLite file: secure_delete and a WAL checkpoint.

Deleted rows used to stay readable in the database file's free space and in
old page images in its write-ahead log. Reads the files' bytes after the
request, so the data here is committed (a transactional test), on SQLite only.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from audiences import services
from audiences.models import SyncRecord
from audiences.sending.pump import send_due_now
from tests.api_support import acme_api  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="what SQLite leaves in its files"),
]

ERASED = [f"team/erase-me-{n:03d}-q7" for n in range(10)]
KEPT = "keep-me-z81"


def file_bytes() -> bytes:
    """The bytes of the database file and its log, read by another process.

    Closing a file descriptor drops every POSIX lock this process holds on
    that file, including the shared lock of the test's open SQLite
    connection. Without it, the next process to close its connection takes
    itself for the last one and deletes the write-ahead log this connection
    still writes to: from then on this process and the workers the later
    tests start see two different databases.
    """
    name = Path(connection.settings_dict["NAME"])
    paths = [str(path) for path in (name, Path(f"{name}-wal")) if path.exists()]
    return subprocess.run(["cat", *paths], check=True, capture_output=True).stdout


def test_the_erased_ids_are_gone_from_the_database_files(sandbox, acme, acme_api, add_canvas):
    users = [{"external_id": external_id, "email": f"user{n}@example.com"} for n, external_id in enumerate(ERASED)]
    users.append({"external_id": KEPT, "email": "kept@example.com"})
    assert acme_api.post(f"/api/v1/canvases/{add_canvas.pk}/entries/", {"users": users},
                         format="json").status_code in (200, 201, 202)
    send_due_now()
    assert SyncRecord.objects.filter(state="synced").count() == len(users)
    assert ERASED[0].encode() in file_bytes()  # the search below can find them

    for external_id in ERASED:
        assert acme_api.delete(f"/api/v1/users/{quote(external_id, safe='')}/").status_code == 202
    assert services.privacy_requests_process() == len(ERASED)

    written = file_bytes()
    assert KEPT.encode() in written  # what is not erased is still there
    readable = [i for i in ERASED if i.encode() in written or i.replace("/", "%2F").encode() in written]
    assert readable == []

    # Reading the files left this process's hold on the database: a connection opened and closed by
    # another process does not take itself for the last one and delete the log this one writes to.
    name = connection.settings_dict["NAME"]
    subprocess.run([sys.executable, "-c", f"import sqlite3; sqlite3.connect({name!r}).execute('SELECT count(*) FROM sqlite_master').close()"],
                   check=True)
    assert Path(f"{name}-wal").exists()
