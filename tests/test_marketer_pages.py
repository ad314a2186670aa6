"""What a marketer reads in the admin: banners, the home page, the analytics figures, records, invites, uploads."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from audiences import services
from audiences.models import Audience, ImportJob, SyncRecord
from audiences.sending.pump import send_due_now
from audiences.services import imports
from integrations.models import Membership
from integrations.services.connections import connection_mark_invalid
from tests.conftest import make_users


def test_the_home_page_warns_in_plain_words_and_links_to_pinterest(client, alice, connection):
    connection_mark_invalid(connection=connection, reason="Refreshing the token failed: Invalid refresh token · HTTP 400")
    client.force_login(alice)

    page = client.get(reverse("admin:index")).content.decode()

    assert "Pinterest needs reconnecting for Acme" in page
    assert "Pinterest is needs" not in page
    # The plain words come first; the technical reason waits behind a disclosure.
    assert page.index("Pinterest needs reconnecting") < page.index("<summary>Technical detail")
    assert page.index("<summary>Technical detail") < page.index("Invalid refresh token")
    assert 'href="/pinterest/acme/"' in page and 'id="pinterest-home"' in page
    assert "View site" not in page
    assert "favicon.svg" in page


def test_marketers_do_not_see_the_task_queue(client, alice, acme):
    client.force_login(alice)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Django Q" not in page and "Email addresses" not in page


def test_create_audience_refuses_a_name_that_exists_only_on_pinterest(client, alice, acme, sandbox, ad_account):
    canvas = services.canvas_create(workspace=acme, name="Draft")
    step = services.step_create_audience_sync(canvas=canvas, ad_account=ad_account)
    user = next(u for u in sandbox.state.users.values() if u.username == "acme-ads")
    lst = sandbox.state.create_list(user, ad_account.pinterest_id, {"name": "l", "records": ",".join(f"{i:064x}" for i in range(100))})
    sandbox.state.create_audience(user, ad_account.pinterest_id, {
        "name": "Loyal buyers", "audience_type": "CUSTOMER_LIST", "rule": {"customer_list_id": lst["id"]}})
    client.force_login(alice)

    response = client.post(reverse("admin:audiences_step_edit", args=[step.pk]), {
        "name": "Sync", "ad_account": ad_account.pk, "audience_name": "loyal buyers", "action": "add",
        "match_email": "on", "_create_audience": "1"}, follow=True)

    shown = " ".join(str(m) for m in response.context["messages"])
    assert "Pinterest already has an audience named “Loyal buyers”" in shown
    assert not Audience.objects.filter(name__iexact="loyal buyers").exists()


@pytest.fixture
def mixed_canvas(acme, ad_account):
    canvas = services.canvas_create(workspace=acme, name="Mixed")
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Everyone")
    services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience,
                                       match_fields=("email", "ios_idfa", "android_aid"))
    services.canvas_launch(canvas=canvas)
    return canvas


def test_a_mixed_identifier_step_shows_figures_that_agree_with_pinterest(client, alice, sandbox, mixed_canvas):
    users = (make_users(120) + make_users(10, start=200, email=False, idfa=True)
             + make_users(5, start=300, email=False, aaid=True))
    services.users_enter(canvas=mixed_canvas, users=users)
    send_due_now()
    services.audiences_sweep(force=True)
    step = mixed_canvas.steps.get()
    audience = Audience.objects.get(pk=step.audience_id)
    remote = {a["id"]: a for a in sandbox.state.audiences()}[audience.pinterest_audience_id]
    client.force_login(alice)

    page = client.get(reverse("admin:audiences_step_analytics", args=[step.pk])).content.decode()

    assert remote["size"] == 135
    assert re.search(r'id="audience-size">135 identifiers', page)
    assert re.search(r'id="audience-members">135<', page)
    assert re.search(r'id="sent-email"><td>Emails</td><td class="count">120<', page)
    assert re.search(r'id="sent-idfa"><td>iOS IDFAs</td><td class="count">10<', page)
    assert re.search(r'id="sent-maid"><td>Android advertising ids</td><td class="count">5<', page)
    assert "Pinterest: READY" not in page
    # The figures agree; the page says in which unit Pinterest counts, and nothing about a difference.
    assert "Pinterest counts 135 identifiers, not users." in page
    assert "smaller" not in page and "larger" not in page


def test_the_page_explains_a_size_that_differs(client, alice, sandbox, mixed_canvas):
    services.users_enter(canvas=mixed_canvas, users=make_users(120))
    send_due_now()
    services.audiences_sweep(force=True)
    step = mixed_canvas.steps.get()
    Audience.objects.filter(pk=step.audience_id).update(pinterest_size=100)  # Pinterest matched fewer
    client.force_login(alice)

    page = client.get(reverse("admin:audiences_step_analytics", args=[step.pk])).content.decode()

    assert "Pinterest counts 100 identifiers, not users." in page
    assert "The 120 users in this audience carried 120 emails" in page
    assert "Not every identifier belongs to a Pinterest account" in page


def test_sync_records_read_in_words(client, alice, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(1))
    send_due_now()
    record = SyncRecord.objects.get()
    client.force_login(alice)

    page = client.get(reverse("admin:audiences_syncrecord_change", args=[record.pk])).content.decode()
    listing = client.get(reverse("admin:audiences_syncrecord_changelist") + f"?canvas={add_canvas.pk}").content.decode()

    assert "user-0 in Welcome series · synced" in page
    assert "Email (hashed)" in page and "Maid hash" not in page and "SyncRecord object" not in page
    assert "user-0" in listing and "By canvas" in listing


def test_marketer_create_makes_a_workspace_only_marketer_with_a_one_time_link(acme, capsys):
    call_command("marketer_create", "ann@example.com", workspace="acme")

    out = capsys.readouterr().out
    assert "Created marketer ann@example.com to workspace acme." in out
    assert re.search(r"http://127\.0\.0\.1:8000/accounts/welcome/\d+/\S+-\S+/", out)
    membership = Membership.objects.get(user__email="ann@example.com")
    assert membership.workspace == acme and membership.user.is_staff and not membership.user.is_superuser
    assert not membership.user.has_usable_password()


def test_a_csv_upload_enters_its_users(client, alice, add_canvas):
    client.force_login(alice)
    csv = b"external_id,email\nu1,ann@example.com\nu2,\n"

    response = client.post(reverse("admin:audiences_canvas_upload", args=[add_canvas.pk]),
                           {"users_csv": SimpleUploadedFile("users.csv", csv, "text/csv")})
    imports.import_run(job_id=ImportJob.objects.get().pk, seconds=0)  # the worker's part

    shown = client.get(response["Location"]).content.decode()
    assert "2 users entered: 1 pending" in shown and "1 not synced" in shown
    assert SyncRecord.objects.count() == 2


def test_a_csv_with_a_bad_row_is_refused_whole(client, alice, add_canvas):
    client.force_login(alice)
    csv = b"external_id,email\nu1,ann@example.com\n,bob@example.com\n"

    response = client.post(reverse("admin:audiences_canvas_upload", args=[add_canvas.pk]),
                           {"users_csv": SimpleUploadedFile("users.csv", csv, "text/csv")})
    imports.import_run(job_id=ImportJob.objects.get().pk, seconds=0)

    shown = client.get(response["Location"]).content.decode()
    assert "1 bad row: nobody was entered" in shown and "<td>3</td><td>external_id</td>" in shown
    assert SyncRecord.objects.count() == 0
