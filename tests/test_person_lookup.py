"""Find a person: a marketer types an email, ad id or external id and sees where that person is.

Acme's bob and vera (a viewer) look people up in Acme; charlie, of Globex,
must see nothing of Acme. What is typed is hashed like an entry, never
stored or logged, and every lookup leaves an audit event naming its kind only.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from audiences import services
from audiences.models import AuditEvent, SyncRecord
from audiences.sending.pump import send_due_now
from integrations.pinterest import identifiers
from tests.api_support import acme_api  # noqa: F401

JANE = "jane.doe@example.com"
IDFA = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
URL = "/admin/audiences/syncrecord/find/"


def sync_canvas(acme, ad_account, name: str):
    canvas = services.canvas_create(workspace=acme, name=name)
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name=f"{name} audience")
    services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience, name=f"Add to {name}",
                                       match_fields=["email", "ios_idfa", "android_aid"])
    services.canvas_launch(canvas=canvas)
    return canvas


def enter(api, canvas, *users):
    response = api.post(f"/api/v1/canvases/{canvas.pk}/entries/", {"users": list(users)}, format="json")
    assert response.status_code == 202, response.content


@pytest.fixture
def jane(acme, ad_account, acme_api):  # noqa: F811
    """Jane entered two canvases through the API: errored in "Lapsed buyers", synced in "Welcome series"."""
    lapsed = sync_canvas(acme, ad_account, "Lapsed buyers")
    welcome = sync_canvas(acme, ad_account, "Welcome series")
    with time_machine.travel(timezone.now() - timedelta(hours=14), tick=False):
        enter(acme_api, lapsed, {"external_id": "jane-42", "email": JANE, "ios_idfa": IDFA})
    services.records_error_expired()
    enter(acme_api, welcome, {"external_id": "jane-42", "email": JANE, "ios_idfa": IDFA},
          {"external_id": "someone-else", "email": "other@example.com"})
    send_due_now()
    return {"lapsed": lapsed, "welcome": welcome}


def find(client, typed: str, **extra):
    response = client.post(URL, {"identifier": typed, **extra})
    assert response.status_code == 200
    return response.content.decode()


def test_it_finds_an_email_entered_through_the_api_in_both_canvases_with_their_states(client, bob, jane):
    client.force_login(bob)
    page = find(client, JANE)
    assert "Looked up as an email" in page
    assert page.count("jane-42") == 2 and "someone-else" not in page
    welcome = SyncRecord.objects.get(step__canvas=jane["welcome"], external_id="jane-42")
    lapsed = SyncRecord.objects.get(step__canvas=jane["lapsed"])
    assert (welcome.state, lapsed.state) == ("synced", "errored")
    assert "Welcome series" in page and "Lapsed buyers" in page
    assert '<span class="person-state synced">Synced</span>' in page
    assert '<span class="person-state errored">Errored</span>' in page
    assert "Not sent within the retry window" in page  # its reason
    assert reverse("admin:audiences_syncrecord_change", args=[welcome.pk]) in page
    assert reverse("admin:audiences_step_analytics", args=[lapsed.step_id]) in page
    assert "Welcome series audience (in it: Pinterest accepted their add)" in page
    assert "Lapsed buyers audience (not in it)" in page
    assert "not on it" in page and "none pending" in page


def test_it_finds_the_same_email_typed_with_other_case_and_spaces(client, bob, jane):
    client.force_login(bob)
    assert find(client, "  Jane.DOE@Example.COM \t").count("jane-42") == 2


def test_it_finds_an_ad_id_whatever_its_case_and_an_external_id(client, bob, jane):
    client.force_login(bob)
    page = find(client, IDFA.lower())
    assert "Looked up as a mobile ad id" in page and page.count("jane-42") == 2
    assert find(client, IDFA.upper()).count("jane-42") == 2
    page = find(client, "jane-42")
    assert "Looked up as an external id" in page and "Welcome series" in page


def test_nothing_found_is_said_plainly(client, bob, jane):
    client.force_login(bob)
    page = find(client, "nobody@example.com")
    assert "No one with this email is in an audience of Acme or on their way to one." in page
    assert "kept only as hashes" in page


def test_a_bad_email_is_refused_with_the_reason_and_nothing_is_looked_up(client, bob, jane):
    client.force_login(bob)
    before = AuditEvent.objects.count()
    page = find(client, "jane@example")
    assert "Not a valid email: not an email address" in page and 'id="person-result"' not in page
    assert AuditEvent.objects.count() == before


def test_another_workspace_sees_nothing_of_acme(client, charlie, jane):
    client.force_login(charlie)
    page = find(client, JANE)
    assert "No one with this email is in an audience of Globex or on their way to one." in page
    assert "Acme" not in page and "jane-42" not in page and "Welcome series" not in page


def test_a_viewer_may_find_a_person(client, vera, jane):
    client.force_login(vera)
    assert client.get(URL).status_code == 200
    assert find(client, JANE).count("jane-42") == 2


def test_the_page_is_linked_from_the_home_page_and_the_sync_records(client, vera, jane):
    client.force_login(vera)
    assert URL in client.get("/admin/").content.decode()
    assert URL in client.get(reverse("admin:audiences_syncrecord_changelist")).content.decode()


def test_what_is_typed_is_not_stored_or_logged_and_the_lookup_is_audited(client, bob, jane, caplog):
    client.force_login(bob)
    typed = "  JANE.doe@example.com"
    with caplog.at_level(logging.DEBUG):
        find(client, typed)
        response = client.post(URL, {"identifier": typed + " " * 600})  # too long: refused, not looked up
    assert response.status_code == 200
    event = AuditEvent.objects.filter(action="person.lookup").get()
    assert (event.actor, event.source, event.target) == ("bob", "admin", "Find a person")
    assert event.details == {"kind": "email", "records_found": 2}
    digest = identifiers.hash_email(JANE)
    stored = json.dumps([list(e.values()) for e in AuditEvent.objects.values()], default=str).lower()
    assert "jane.doe" not in stored and digest not in stored
    logged = caplog.text.lower()
    assert "jane.doe" not in logged and digest not in logged


def test_suppression_and_a_pending_erasure_are_shown(client, alice, jane):
    services.suppression_add(workspace=jane["welcome"].workspace, entries=[{"email": JANE}])
    erasure = services.erasure_request(workspace=jane["welcome"].workspace, external_id="jane-42")
    client.force_login(alice)
    page = find(client, "jane-42")
    assert '<span class="person-flag">on it</span>, by email' in page
    assert f"Erasure #{erasure.pk} pending" in page


def test_an_email_finds_someone_on_their_way_and_only_an_external_id_finds_someone_never_matched(
        client, bob, acme, ad_account, acme_api):  # noqa: F811
    waiting = sync_canvas(acme, ad_account, "Spring sale")
    enter(acme_api, waiting, {"external_id": "kim-7", "email": "kim@example.com"})  # pending: not sent yet
    email_only = services.canvas_create(workspace=acme, name="Ad ids only")
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Ad id audience")
    services.step_create_audience_sync(canvas=email_only, ad_account=ad_account, audience=audience,
                                       match_fields=["ios_idfa"])
    services.canvas_launch(canvas=email_only)
    enter(acme_api, email_only, {"external_id": "lee-8", "email": "lee@example.com"})  # not synced: no ad id
    client.force_login(bob)

    page = find(client, "kim@example.com")
    assert "kim-7" in page and '<span class="person-state pending">Pending</span>' in page
    page = find(client, "lee@example.com")
    assert "lee-8" not in page and "is found by their external id" in page
    assert "Ad ids only" in find(client, "lee-8")
