"""Who may do what with segments in the admin: viewers read, marketers decide snapshots, admins hold sources."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audiences.models import Segment, Snapshot, SqlSource
from tests.roles_support import DENIED, HIDDEN, OK, PEOPLE, outcome_of, person  # noqa: F401
from tests.segments_support import segment_of, snapshot_send

pytestmark = pytest.mark.django_db
A, M, V, O, S = PEOPLE


def expect(admin, marketer, viewer, outsider, superuser=OK) -> dict:
    return {A: admin, M: marketer, V: viewer, O: outsider, S: superuser}


@pytest.fixture
def waiting(add_canvas):
    """Acme's segment of 10 members, and a snapshot removing all of them waiting for confirmation."""
    segment = segment_of(add_canvas)
    snapshot_send(segment, range(10))
    return snapshot_send(segment, [])


def picture():
    return (list(Segment.objects.values_list()), list(Snapshot.objects.values_list("id", "state")),
            list(SqlSource.objects.values_list("id")))


def act(client, what: str, snapshot, settings):
    segment = snapshot.segment
    settings.SEGMENT_SOURCE_SQLITE_DIR = "/nonexistent-for-roles"
    if what == "view":
        return client.get(reverse("admin:audiences_segment_change", args=[segment.pk]))
    if what == "confirm":
        return client.post(reverse("admin:audiences_segment_decide", args=[segment.pk, snapshot.pk, "confirm"]))
    if what == "discard":
        return client.post(reverse("admin:audiences_segment_decide", args=[segment.pk, snapshot.pk, "discard"]))
    if what == "share":
        return client.post(reverse("admin:audiences_segment_share", args=[segment.pk]), {"max_removal_percent": 80})
    if what == "source":
        return client.post(reverse("admin:audiences_segment_source", args=[segment.pk]),
                           {"url": "postgresql://u:p@db.example.test/crm", "query": "SELECT 'a' AS external_id"})
    raise AssertionError(what)


TABLE = {
    "view": expect(OK, OK, OK, HIDDEN),
    "confirm": expect(OK, OK, DENIED, HIDDEN),
    "discard": expect(OK, OK, DENIED, HIDDEN),
    "share": expect(OK, OK, DENIED, HIDDEN),
    "source": expect(OK, DENIED, DENIED, HIDDEN),
}


@pytest.mark.parametrize("role", PEOPLE)
@pytest.mark.parametrize("what", list(TABLE))
def test_each_role_may_do_what_the_table_says_and_a_refusal_changes_nothing(client, person, waiting, settings,
                                                                             role, what):
    client.force_login(person[role])
    before = picture()
    outcome = outcome_of(act(client, what, waiting, settings))
    assert outcome == TABLE[what][role]
    if outcome != OK:
        assert picture() == before


def test_the_page_shows_the_waiting_snapshot_with_its_buttons_to_a_marketer_only(client, bob, vera, waiting):
    url = reverse("admin:audiences_segment_change", args=[waiting.segment_id])
    client.force_login(bob)
    page = client.get(url).content.decode()
    assert "Waiting for confirmation" in page and "Would remove 10 of 10 members" in page and ">Confirm<" in page
    client.force_login(vera)
    page = client.get(url).content.decode()
    assert "Waiting for confirmation" in page and ">Confirm<" not in page


def test_a_marketer_confirms_and_the_snapshot_is_committed(client, bob, waiting):
    client.force_login(bob)
    client.post(reverse("admin:audiences_segment_decide", args=[waiting.segment_id, waiting.pk, "confirm"]))
    waiting.refresh_from_db()
    assert waiting.state == Snapshot.State.COMMITTED
