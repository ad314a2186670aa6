"""The suppression list: suppressed users never reach Pinterest and are taken out of the audiences they are in."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audiences import services
from audiences.metrics import audience_member_count, step_metrics
from audiences.models import Audience, ImportJob, PrivacyRequest, SuppressedIdentifier, SyncRecord
from audiences.sending.pump import send_due_now
from audiences.services import imports
from tests.api_support import acme_api, error_of, globex_api  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def email_hash(i: int) -> str:
    return sha256(f"user{i}@example.com")


def list_records(sandbox, audience_id: int) -> set[str]:
    list_id = Audience.objects.get(pk=audience_id).lists.get().pinterest_customer_list_id
    return sandbox.state.customer_list_records(list_id)


def test_a_suppressed_user_never_reaches_pinterest_and_is_counted_as_not_synced(sandbox, acme, add_canvas):
    services.suppression_add(workspace=acme, entries=[{"email": "USER1@example.com "}, {"external_id": "user-3"}])

    result = services.users_enter(canvas=add_canvas, users=make_users(5))
    send_due_now()

    step = add_canvas.steps.get()
    members = list_records(sandbox, step.audience_id)
    assert email_hash(1) not in members and email_hash(3) not in members
    assert {email_hash(i) for i in (0, 2, 4)} <= members
    assert result.not_synced == 2 and result.pending == 3
    numbers = step_metrics(step)
    assert (numbers.entered, numbers.synced, numbers.not_synced, numbers.suppressed) == (5, 3, 2, 2)
    assert numbers.entered == numbers.synced + numbers.not_synced + numbers.pending + numbers.errored
    assert SyncRecord.objects.filter(state=SyncRecord.State.SUPPRESSED).count() == 2


def test_the_api_metrics_show_the_suppressed_figure(sandbox, acme, acme_api, add_canvas):
    services.suppression_add(workspace=acme, entries=[{"external_id": "user-0"}])
    services.users_enter(canvas=add_canvas, users=make_users(2))
    body = acme_api.get(f"/api/v1/steps/{add_canvas.steps.get().pk}/metrics/").json()
    assert (body["entered"], body["pending"], body["not_synced"], body["suppressed"]) == (2, 1, 1, 1)


def test_only_hashes_are_stored(acme):
    services.suppression_add(workspace=acme, entries=[{"external_id": "jane-7", "email": "Jane@Example.org",
                                                        "ios_idfa": "0000000a-aaaa-bbbb-cccc-ddddeeeeffff"}])
    stored = set(SuppressedIdentifier.objects.values_list("kind", "value_hash"))
    assert stored == {("external_id", sha256("jane-7")), ("email", sha256("jane@example.org")),
                      ("ios_idfa", sha256("0000000A-AAAA-BBBB-CCCC-DDDDEEEEFFFF"))}


def test_suppressing_a_member_removes_them_from_every_audience_the_ledger_lists(sandbox, acme, ad_account,
                                                                                add_canvas):
    other = services.canvas_create(workspace=acme, name="Second")
    second = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Second audience")
    services.step_create_audience_sync(canvas=other, ad_account=ad_account, audience=second)
    services.canvas_launch(canvas=other)
    services.users_enter(canvas=add_canvas, users=make_users(3))
    services.users_enter(canvas=other, users=make_users(3))
    send_due_now()
    first = add_canvas.steps.get().audience_id

    result = services.suppression_add(workspace=acme, entries=[{"email": "user2@example.com"}])
    assert result.removals_started == 1
    assert services.privacy_requests_process() == 1

    for audience_id in (first, second.pk):
        assert email_hash(2) not in list_records(sandbox, audience_id)
        assert email_hash(1) in list_records(sandbox, audience_id)
        assert audience_member_count(audience_id) == 2
    request = PrivacyRequest.objects.get()
    assert request.status == "done" and request.removed["audiences"] == 2 and request.external_id == ""


def test_a_waiting_add_of_a_suppressed_user_is_dropped(sandbox, acme, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(3))

    services.suppression_add(workspace=acme, entries=[{"external_id": "user-0"}])
    services.privacy_requests_process()
    send_due_now()

    step = add_canvas.steps.get()
    assert email_hash(0) not in list_records(sandbox, step.audience_id)
    numbers = step_metrics(step)
    assert (numbers.entered, numbers.synced, numbers.not_synced, numbers.suppressed, numbers.pending) == (3, 2, 1, 1, 0)


def test_one_bad_entry_changes_nothing(acme):
    with pytest.raises(services.EntryRejected) as refused:
        services.suppression_add(workspace=acme, entries=[{"email": "a@example.com"}, {"email": "not an email"}])
    assert refused.value.row == 1
    with pytest.raises(services.EntryRejected):
        services.suppression_add(workspace=acme, entries=[{}])
    assert not SuppressedIdentifier.objects.exists()


def test_taking_someone_off_the_list_lets_them_be_added_again(sandbox, acme, add_canvas):
    services.suppression_add(workspace=acme, entries=[{"email": "user0@example.com"}])
    assert services.suppression_remove(workspace=acme, entries=[{"email": "user0@example.com"}]) == 1
    services.users_enter(canvas=add_canvas, users=make_users(1))
    send_due_now()
    assert email_hash(0) in list_records(sandbox, add_canvas.steps.get().audience_id)


def test_another_workspaces_list_does_not_apply(sandbox, globex, add_canvas):
    services.suppression_add(workspace=globex, entries=[{"email": "user0@example.com"}])
    result = services.users_enter(canvas=add_canvas, users=make_users(1))
    assert result.pending == 1


def test_the_api_adds_counts_and_removes(acme_api, globex_api, acme):
    response = acme_api.post("/api/v1/suppressions/", {"entries": [{"email": "a@example.com"},
                                                                    {"external_id": "x-1"}]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"listed": 2, "already_listed": 0, "removals_started": 0}
    assert acme_api.get("/api/v1/suppressions/").json() == {"count": 2}
    assert globex_api.get("/api/v1/suppressions/").json() == {"count": 0}
    bad = acme_api.post("/api/v1/suppressions/", {"entries": [{"email": "b@example.com"}, {"email": "@"}]},
                        format="json")
    assert bad.status_code == 400 and "entries" in str(error_of(bad))
    removed = acme_api.post("/api/v1/suppressions/remove/", {"entries": [{"external_id": "x-1"}]}, format="json")
    assert removed.json() == {"unlisted": 1}


def test_the_admin_uploads_a_csv(client, alice, acme):
    client.force_login(alice)
    url = reverse("admin:audiences_suppression_upload")
    assert client.get(url).status_code == 200
    response = client.post(url, {"workspace": acme.pk, "mode": "add",
                                 "text": "external_id,email\nu-1,one@example.com\n,two@example.com\n"})
    assert response.status_code == 302, response.content.decode()[:2000]
    imports.import_run(job_id=ImportJob.objects.latest("id").pk, seconds=0)  # the worker's part
    assert SuppressedIdentifier.objects.filter(workspace=acme).count() == 3
    listing = client.get(reverse("admin:audiences_suppressedidentifier_changelist"))
    assert listing.status_code == 200 and sha256("one@example.com") in listing.content.decode()
    refused = client.post(url, {"workspace": acme.pk, "mode": "add", "text": "email\nok@example.com\nnope\n"})
    imports.import_run(job_id=ImportJob.objects.latest("id").pk, seconds=0)
    page = client.get(refused["Location"]).content.decode()
    assert "<td>3</td><td>email</td><td><code>nope</code></td>" in page
    assert SuppressedIdentifier.objects.filter(workspace=acme).count() == 3


def test_the_command_reads_a_csv(acme, tmp_path):
    path = tmp_path / "optouts.csv"
    path.write_text("email,android_aid\nthree@example.com,\n,0000000B-AAAA-BBBB-CCCC-DDDDEEEEFFFF\n")
    out = StringIO()
    call_command("suppress", "--workspace", "acme", str(path), stdout=out)
    assert "2 identifiers listed" in out.getvalue()
    path.write_text("email\nbad\n")
    with pytest.raises(CommandError, match=r"line 2, email \('bad'\)"):
        call_command("suppress", "--workspace", "acme", str(path))
