"""The admin's lists of sync records, send logs and audit events: newest first, paged without counting history."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audiences import services
from audiences.sending.pump import send_due_now
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def external_ids(page: str) -> list[str]:
    return re.findall(r'<th class="field-external_id"><a href="[^"]*">([^<]+)</a>', page)


@pytest.fixture
def history(sandbox, add_canvas, globex):
    """Acme: 130 users (20 without email: not synced), sent; Globex: a canvas of its own with 5 users."""
    services.users_enter(canvas=add_canvas, users=make_users(110))
    services.users_enter(canvas=add_canvas, users=make_users(20, start=500, email=False))
    send_due_now()
    return add_canvas


def test_it_lists_a_workspace_records_newest_first_page_by_page(history, bob):
    client = signed_in(bob)

    first = client.get("/admin/audiences/syncrecord/").content.decode()
    assert external_ids(first)[:2] == ["user-519", "user-518"]
    assert len(external_ids(first)) == 100
    assert "Showing 1–100, newest first" in first
    older = re.search(r'href="(\?p=2)" class="history-older"', first)
    assert older, "an Older link to the second page"

    second = client.get("/admin/audiences/syncrecord/" + older.group(1)).content.decode()
    assert len(external_ids(second)) == 30
    assert external_ids(second)[-1] == "user-0"
    assert "history-older" not in second and "history-newer" in second


def test_it_filters_by_state_and_finds_a_person_by_external_id(history, bob):
    client = signed_in(bob)

    not_synced = client.get("/admin/audiences/syncrecord/?state__exact=not_synced").content.decode()
    assert external_ids(not_synced) == [f"user-{i}" for i in range(519, 499, -1)]

    found = client.get("/admin/audiences/syncrecord/?q=user-42").content.decode()
    assert external_ids(found) == ["user-42"]
    assert "of 1," in found  # an exact search is counted
    assert external_ids(client.get("/admin/audiences/syncrecord/?q=USER-42").content.decode()) == []


def test_another_workspace_sees_none_of_it(history, charlie):
    client = signed_in(charlie)
    for url in ("/admin/audiences/syncrecord/", "/admin/audiences/syncrecord/?state__exact=synced",
                "/admin/audiences/syncrecord/?q=user-42", "/admin/audiences/sendlog/"):
        page = client.get(url).content.decode()
        assert external_ids(page) == [] and "Nothing to show" in page


def test_no_list_counts_the_history_table(history, bob, superuser):
    for user in (bob, superuser):
        client = signed_in(user)
        for url in ("/admin/audiences/syncrecord/", "/admin/audiences/syncrecord/?state__exact=synced",
                    f"/admin/audiences/syncrecord/?canvas={history.pk}", "/admin/audiences/sendlog/",
                    "/admin/audiences/sendlog/?outcome__exact=ok", "/admin/audiences/auditevent/"):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()
                      and re.search(r'FROM "audiences_(syncrecord|sendlog|auditevent)"', q["sql"])]
            assert counts == [], f"{url} counted: {counts}"


def test_requests_filtered_to_the_held_back_or_to_one_kind_list_exactly_those(history, bob, superuser):
    from audiences.models import SendLog

    audience_id = history.steps.get().audience_id
    SendLog.objects.bulk_create(
        [SendLog(audience_id=audience_id, operation="ADD", outcome="retry", error=f"held back {i}") for i in range(3)]
        + [SendLog(audience_id=audience_id, operation="FIND_LIST", outcome="ok", http_status=200, error=f"found {i}")
           for i in range(2)]
    )
    for user in (bob, superuser):
        client = signed_in(user)
        held = client.get("/admin/audiences/sendlog/?reached=no").content.decode()
        assert re.findall(r"held back \d", held) == ["held back 2", "held back 1", "held back 0"]
        assert "Showing 1–3, newest first" in held
        found = client.get("/admin/audiences/sendlog/?operation__exact=FIND_LIST").content.decode()
        assert re.findall(r"found \d", found) == ["found 1", "found 0"]
        assert "held back" not in found
