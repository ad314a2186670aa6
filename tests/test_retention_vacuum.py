"""On PostgreSQL the space of deleted and updated rows is reused, even on a server whose autovacuum is off."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from audiences import services, tasks
from audiences.models import SyncRecord
from tests.conftest import make_users

pytestmark = [pytest.mark.django_db(transaction=True)]


def records_table_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s)", [SyncRecord._meta.db_table])
        return cursor.fetchone()[0]


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite reuses freed pages by itself; VACUUM is PostgreSQL's")


def test_the_records_table_does_not_grow_when_retention_makes_room(postgresql, settings, sandbox, add_canvas):
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {SyncRecord._meta.db_table} SET (autovacuum_enabled = off)")
    with time_machine.travel(timezone.now() - timedelta(days=40), tick=False):
        for start in range(0, 30_000, 5_000):  # no email: not synced, finished at once
            services.users_enter(canvas=add_canvas, users=make_users(5_000, start=start, email=False))
    full = records_table_bytes()

    tasks.retention()  # what the schedule runs every minute: deletes the 30,000, then vacuums

    assert SyncRecord.objects.count() == 0
    for start in range(100_000, 130_000, 5_000):
        services.users_enter(canvas=add_canvas, users=make_users(5_000, start=start, email=False))
    assert SyncRecord.objects.count() == 30_000
    # The new rows went into the room the old ones left; without a vacuum the table would be twice the size.
    assert records_table_bytes() < full * 1.2


def test_nothing_is_vacuumed_while_few_rows_are_dead(postgresql, sandbox, add_canvas):
    services.vacuum_tables_due()  # whatever earlier tests left
    services.users_enter(canvas=add_canvas, users=make_users(100, email=False))
    assert "audiences_syncrecord" not in services.vacuum_tables_due()
