"""For tests whose second process (a web process, a worker) must reach this test's database."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.db import connection as db_connection


def database_url_for_another_process() -> str:
    """This test database (not the development one) as a DATABASE_URL; skips where no other process can reach it."""
    database = db_connection.settings_dict
    if db_connection.vendor == "sqlite" and not database["NAME"].startswith(":memory:"):
        return f"sqlite:///{database['NAME']}"
    if db_connection.vendor == "postgresql":
        user, password = quote(database["USER"] or "", safe=""), quote(database["PASSWORD"] or "", safe="")
        auth = user + (f":{password}" if password else "")
        return f"postgres://{auth}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"
    pytest.skip("another process cannot reach this test database")
