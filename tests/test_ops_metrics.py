"""/metrics: Prometheus text read from the database at scrape time, the same from every process, protected."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from audiences import services
from audiences.models import SendLog, SyncRecord
from audiences.sending import records
from audiences.sending.pump import send_due_now
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def scrape(client=None, **headers) -> dict:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def pick(samples, name, **labels):
    """The samples of one metric whose labels include `labels`, keyed by their remaining labels."""
    found = {}
    for (sample_name, sample_labels), value in samples.items():
        given = dict(sample_labels)
        if sample_name == name and all(given.get(k) == v for k, v in labels.items()):
            found[tuple((k, v) for k, v in sample_labels if k not in labels)] = value
    return found


def test_it_counts_users_per_workspace_and_step_and_requests_per_operation(add_canvas, sandbox, settings):
    settings.SYNC_BATCH_SIZE = 20
    users = make_users(45) + [{"external_id": "no-email"}]
    services.users_enter(canvas=add_canvas, users=users)
    sandbox.state.fail_next(1, 503)
    send_due_now()
    # The failed batch waits out its backoff; make it due now rather than wait.
    SyncRecord.objects.filter(state=SyncRecord.State.PENDING).update(next_attempt_at=timezone.now())
    send_due_now()
    step = add_canvas.steps.get()

    samples = scrape()
    users_by_state = {
        dict(k)["state"]: v for k, v in pick(samples, "audience_sync_step_users", workspace="acme", step=str(step.pk)).items()
    }
    assert users_by_state == {"entered": 46, "synced": 45, "not_synced": 1, "pending": 0, "errored": 0}

    requests = pick(samples, "audience_sync_pinterest_requests_total")
    # Recounted from the sandbox's own log: every request it answered, by HTTP status.
    answered = [e for e in sandbox.state.requests_log() if "/customer_lists" in e["path"]
                and (e["method"] in ("POST", "PATCH") or e["path"].endswith("/customer_lists"))]
    by_status = {}
    for (labels, value) in requests.items():
        by_status[dict(labels)["status"]] = by_status.get(dict(labels)["status"], 0) + value
    recount = {}
    for entry in answered:
        recount[str(entry["status"])] = recount.get(str(entry["status"]), 0) + 1
    assert by_status == recount
    assert recount.get("503") == 1
    records = pick(samples, "audience_sync_pinterest_records_total")
    assert sum(v for k, v in records.items() if dict(k)["outcome"] == "ok") == 45

    assert samples[("audience_sync_due_lists", ())] >= 0
    assert samples[("audience_sync_oldest_due_age_seconds", ())] == 0
    assert samples[("audience_sync_senders_alive", ())] == 0
    assert pick(samples, "audience_sync_connection_state", workspace="acme") == {
        (("state", "valid"),): 1, (("state", "invalid"),): 0, (("state", "disconnected"),): 0,
    }


def test_no_token_or_identifier_is_in_any_label(add_canvas, sandbox, connection):
    services.users_enter(canvas=add_canvas, users=make_users(5))
    send_due_now()
    text = Client().get("/metrics").content.decode()
    step = add_canvas.steps.get()
    record = step.sync_records.first()
    for secret in (connection.access_token, connection.refresh_token, record.email_hash, record.external_id,
                   step.audience.lists.get().pinterest_customer_list_id, connection.pinterest_user_id):
        assert secret and secret not in text


def test_a_bearer_token_protects_it_when_set(add_canvas, settings):
    settings.METRICS_TOKEN = "scrape-secret-1"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(HTTP_AUTHORIZATION="Bearer scrape-secret-1")


def test_without_a_token_only_allowed_addresses_may_scrape(add_canvas, settings):
    assert scrape(REMOTE_ADDR="127.0.0.1")
    assert Client().get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert scrape(REMOTE_ADDR="10.1.2.3")
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def latency_of(samples, step) -> dict:
    """The step's entry-to-Pinterest histogram: {"5.0": users within 5 s, ..., "count": n, "sum": seconds}."""
    labels = {"workspace": "acme", "canvas": str(step.canvas_id), "step": str(step.pk)}
    found = {dict(k)["le"]: v for k, v in pick(samples, "audience_sync_entry_to_pinterest_seconds_bucket",
                                                **labels).items()}
    for part in ("count", "sum"):
        values = pick(samples, f"audience_sync_entry_to_pinterest_seconds_{part}", **labels)
        if values:
            found[part] = values[()]
    return found


def test_it_times_each_synced_user_from_entering_to_pinterest(add_canvas, sandbox):
    step = add_canvas.steps.get()
    # An hour back: the rate limit ignores send times this far from its clock (MAX_AHEAD_SECONDS), so neither
    # the real clock's times delay this test nor the times it takes delay a later one.
    with time_machine.travel(timezone.now() - timedelta(hours=1), tick=False) as traveller:
        services.users_enter(canvas=add_canvas, users=make_users(6) + [{"external_id": "no-email"}])
        traveller.shift(timedelta(seconds=4))
        send_due_now()
        services.users_enter(canvas=add_canvas, users=make_users(3, start=6))
        traveller.shift(timedelta(seconds=100))
        send_due_now()

    latency = latency_of(scrape(), step)
    # Six users took 4 s, three took 100 s; the user without an email was never sent, so is not timed.
    assert latency["3.0"] == 0
    assert latency["5.0"] == 6
    assert latency["60.0"] == 6
    assert latency["120.0"] == 9
    assert latency["+Inf"] == latency["count"] == 9
    assert latency["sum"] == pytest.approx(6 * 4 + 3 * 100)


def test_a_batch_whose_lease_was_lost_adds_no_time(add_canvas, sandbox):
    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(5))
    audience_id = step.audience_id
    claimed = records.claim(audience_id, "add", owner="first-sender", now=timezone.now(), at_least=1)
    assert len(claimed) == 5

    # The lease lapsed and another sender holds the users now: the first one's outcome changes nothing.
    records.finish("another-sender", [(record, None) for record in claimed], now=timezone.now())
    assert latency_of(scrape(), step) == {}
    assert SyncRecord.objects.filter(state=SyncRecord.State.SYNCED).count() == 0

    records.finish("first-sender", [(record, None) for record in claimed], now=timezone.now())
    assert latency_of(scrape(), step)["count"] == 5


def test_it_shows_how_long_requests_waited_for_the_rate_limit(add_canvas, sandbox, settings):
    settings.SYNC_BATCH_SIZE = 5
    settings.SYNC_RATE_LIMIT_PER_SECOND = 1  # the second request of a second waits for the next
    services.users_enter(canvas=add_canvas, users=make_users(10))
    send_due_now()

    samples = scrape()
    logged = SendLog.objects.exclude(limiter_wait_ms=None)
    assert sorted(logged.values_list("operation", flat=True)) == ["ADD", "CREATE_LIST"]
    for operation in ("ADD", "CREATE_LIST"):
        count = pick(samples, "audience_sync_limiter_wait_seconds_count", operation=operation)
        assert count == {(): logged.filter(operation=operation).count()}
    # The add left right after the list was made, so it waited for the next second.
    add = {dict(k)["le"]: v for k, v in pick(samples, "audience_sync_limiter_wait_seconds_bucket",
                                               operation="ADD").items()}
    assert add["0.0"] == add["0.5"] == 0
    assert add["2.0"] == add["+Inf"] == 1
    assert pick(samples, "audience_sync_limiter_wait_seconds_sum", operation="ADD")[()] >= 0.5


def test_due_users_are_counted_per_workspace_and_users_in_backoff_are_not(add_canvas, sandbox):
    services.users_enter(canvas=add_canvas, users=make_users(30))
    assert pick(scrape(), "audience_sync_due_records") == {(("workspace", "acme"),): 30}

    # Ten of them failed and wait out a retry's backoff: pending, but not due.
    backoff = SyncRecord.objects.filter(pk__in=SyncRecord.objects.values("pk")[:10])
    backoff.update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert pick(scrape(), "audience_sync_due_records") == {(("workspace", "acme"),): 20}

    send_due_now()
    assert pick(scrape(), "audience_sync_due_records") == {(("workspace", "acme"),): 0}
