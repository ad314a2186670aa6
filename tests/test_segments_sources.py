"""A SQL source keeps a segment in step on a schedule; what it may reach and run is the operator's choice."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from audiences import services, tasks
from audiences.models import Incident, Snapshot, SourceRun
from audiences.sending.pump import send_due_now
from audiences.services import sources
from tests.segments_support import emails, list_records, segment_of

pytestmark = pytest.mark.django_db
SERVER = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def source_db():
    """A database of its own on the CI's PostgreSQL server, with a `customers` table; dropped after."""
    name = f"segsrc_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable on 127.0.0.1:5432 ({type(exc).__name__})")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{SERVER}/{name}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE customers (id integer PRIMARY KEY, mail text, active boolean)")
    yield url
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


def customers(url: str, ids, *, sql: str = "") -> None:
    """The customers table holds exactly these ids (and runs `sql` too, as the database's owner)."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DELETE FROM customers")
        with db.cursor() as cursor:
            cursor.executemany("INSERT INTO customers VALUES (%s, %s, true)",
                               [(i, f"User{i}@Example.COM") for i in ids])
        if sql:
            db.execute(sql)


QUERY = "SELECT 'user-' || id AS external_id, mail AS email FROM customers WHERE active"


@pytest.fixture
def allowed(settings):
    settings.SEGMENT_SOURCE_ALLOWED_HOSTS = ["127.0.0.1"]


def test_it_keeps_the_audience_equal_to_the_query_over_three_scheduled_runs(sandbox, add_canvas, source_db, allowed):
    segment = segment_of(add_canvas)
    start = timezone.now() - timedelta(hours=1)  # runs in the past: what they enter is due when sent now
    with time_machine.travel(start, tick=False):
        source = sources.source_create(segment=segment, url=source_db, query=QUERY, every_minutes=10)
    memberships = [range(300), range(40, 320), range(40, 100)]
    for turn, ids in enumerate(memberships):
        customers(source_db, ids)
        with time_machine.travel(start + timedelta(minutes=10 * turn + 1), tick=False):
            assert tasks.segment_sources() == 1
            assert tasks.segment_sources() == 0  # not due again until ten minutes later
        if turn == 2:  # 220 of 280 leave: over half, so the marketer confirms it
            run = source.runs.first()
            assert run.status == SourceRun.Status.WAITING and list_records(sandbox) == emails(range(40, 320))
            services.alerts_check()
            assert Incident.objects.filter(kind=Incident.Kind.SNAPSHOT_WAITING, resolved_at=None).exists()
            from audiences.services import segments

            segments.snapshot_commit(run.snapshot, actor="bob", confirmed=True)
        send_due_now()
        assert list_records(sandbox) == emails(ids)
    runs = list(source.runs.order_by("id").values_list("rows", "added", "removed", "refused"))
    assert runs == [(300, 300, 0, 0), (280, 20, 40, 0), (60, 0, 220, 0)]


def test_it_changes_nothing_and_opens_an_incident_when_the_query_fails(sandbox, add_canvas, source_db, allowed):
    segment = segment_of(add_canvas)
    customers(source_db, range(10))
    source = sources.source_create(segment=segment, url=source_db, query=QUERY)
    sources.source_run(source, trigger="bob")
    send_due_now()

    customers(source_db, range(10), sql="ALTER TABLE customers RENAME COLUMN mail TO email_address")
    failed = sources.source_run(source, trigger="bob")
    send_due_now()

    assert failed.status == SourceRun.Status.FAILED and "mail" in failed.error
    assert list_records(sandbox) == emails(range(10))
    assert Snapshot.objects.get(pk=failed.snapshot_id).state == Snapshot.State.DISCARDED
    services.alerts_check()
    incident = Incident.objects.get(kind=Incident.Kind.SOURCE_FAILED)
    assert incident.resolved_at is None and "failed" in incident.summary


def test_it_changes_nothing_when_the_query_returns_no_rows(sandbox, add_canvas, source_db, allowed):
    segment = segment_of(add_canvas, max_removal_percent=100)
    customers(source_db, range(10))
    source = sources.source_create(segment=segment, url=source_db, query=QUERY)
    sources.source_run(source, trigger="bob")
    customers(source_db, [])
    empty = sources.source_run(source, trigger="bob")
    send_due_now()
    assert empty.status == SourceRun.Status.FAILED and "no rows" in empty.error
    assert list_records(sandbox) == emails(range(10))


def test_it_refuses_a_host_the_operator_did_not_allow_unless_staff_create_it(add_canvas, source_db, settings):
    settings.SEGMENT_SOURCE_ALLOWED_HOSTS = []
    segment = segment_of(add_canvas)
    with pytest.raises(sources.SourceRefused, match="not one this service's operator allows"):
        sources.source_create(segment=segment, url=source_db, query=QUERY)
    assert sources.source_create(segment=segment, url=source_db, query=QUERY, by_staff=True).pk


@pytest.mark.parametrize("query", [
    "DELETE FROM customers",
    "SELECT 'user-1' AS external_id; DROP TABLE customers",
    "WITH gone AS (DELETE FROM customers RETURNING id) SELECT 'user-' || id AS external_id FROM gone",
    "UPDATE customers SET active = false RETURNING 'user-' || id AS external_id",
])
def test_it_refuses_a_writing_statement(add_canvas, source_db, allowed, query):
    with pytest.raises(sources.SourceRefused):
        sources.source_create(segment=segment_of(add_canvas), url=source_db, query=query)


def test_it_runs_the_query_read_only_whatever_it_calls(sandbox, add_canvas, source_db, allowed):
    customers(source_db, range(5), sql=(
        "CREATE FUNCTION forget_all() RETURNS text LANGUAGE sql AS "
        "$$ DELETE FROM customers; SELECT 'x' $$"))
    source = sources.source_create(segment=segment_of(add_canvas), url=source_db,
                                   query="SELECT forget_all() AS external_id")
    run = sources.source_run(source, trigger="bob")
    assert run.status == SourceRun.Status.FAILED and "tried to write" in run.error
    with psycopg.connect(source_db) as db:
        assert db.execute("SELECT count(*) FROM customers").fetchone()[0] == 5


def test_it_refuses_the_services_own_database_whatever_it_is_called(add_canvas, settings, tmp_path):
    segment = segment_of(add_canvas)
    own = connection.settings_dict
    if connection.vendor == "postgresql":
        settings.SEGMENT_SOURCE_ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
        for host in ("localhost", "127.0.0.1"):
            url = f"postgresql://postgres@{host}:{own.get('PORT') or 5432}/{own['NAME']}"
            with pytest.raises(sources.SourceRefused, match="own database"):
                sources.source_create(segment=segment, url=url, query=QUERY)
    else:
        path = os.path.realpath(own["NAME"])
        settings.SEGMENT_SOURCE_SQLITE_DIR = os.path.dirname(path)
        for url in (f"sqlite:///{path}", f"sqlite:///{os.path.dirname(path)}/./{os.path.basename(path)}"):
            with pytest.raises(sources.SourceRefused, match="own database"):
                sources.source_create(segment=segment, url=url, query=QUERY)


def test_it_reads_a_sqlite_file_only_inside_the_folder_the_operator_named(sandbox, add_canvas, settings, tmp_path):
    import sqlite3

    inside, outside = tmp_path / "sources", tmp_path / "elsewhere"
    inside.mkdir(), outside.mkdir()
    for folder in (inside, outside):
        db = sqlite3.connect(folder / "crm.sqlite3")
        db.execute("CREATE TABLE customers (id integer, mail text, active boolean)")
        db.executemany("INSERT INTO customers VALUES (?, ?, 1)", [(i, f"user{i}@example.com") for i in range(7)])
        db.commit(), db.close()
    query = "SELECT 'user-' || id AS external_id, mail AS email FROM customers WHERE active"
    segment = segment_of(add_canvas)
    with pytest.raises(sources.SourceRefused, match="SQLite sources are off"):
        sources.source_create(segment=segment, url=f"sqlite:///{inside}/crm.sqlite3", query=query)
    settings.SEGMENT_SOURCE_SQLITE_DIR = str(inside)
    with pytest.raises(sources.SourceRefused, match="inside"):
        sources.source_create(segment=segment, url=f"sqlite:///{inside}/../elsewhere/crm.sqlite3", query=query)
    source = sources.source_create(segment=segment, url=f"sqlite:///{inside}/crm.sqlite3", query=query)
    run = sources.source_run(source, trigger="bob")
    send_due_now()
    assert (run.status, run.rows, run.added) == (SourceRun.Status.DONE, 7, 7)
    assert list_records(sandbox) == emails(range(7))


def test_it_stores_the_url_encrypted(add_canvas, source_db, allowed):
    url = source_db.replace("postgres@", "postgres:s3cret-pass@")
    source = sources.source_create(segment=segment_of(add_canvas), url=url, query=QUERY)
    assert "s3cret" not in source.url_encrypted and "s3cret" not in source.url_display
    assert source.url == url
