"""The pump serves many lists and Pinterest users at once: fairly, with a bounded queue, and counts stay exact."""

from __future__ import annotations

import threading

import pytest
from django.db import connection as db_connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from audiences import metrics, services
from audiences.models import StepCount, SyncRecord
from audiences.sending import pump
from integrations.pinterest.client import TokenSet
from integrations.services.connections import connection_connect
from tests.conftest import make_users

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def launched(workspace, ad_account, name: str):
    canvas = services.canvas_create(workspace=workspace, name=name)
    audience = services.audience_create_draft(workspace=workspace, ad_account=ad_account, name=name)
    services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience)
    services.canvas_launch(canvas=canvas)
    return canvas


def list_writes(sandbox) -> list[dict]:
    return sorted(
        (r for r in sandbox.state.requests_log()
         if "/customer_lists" in r["path"] and r["method"] in ("POST", "PATCH") and r["status"] == 200),
        key=lambda r: r["t"],
    )


@pytest.fixture
def fast(settings):
    settings.SYNC_BATCH_SIZE = 250
    settings.SYNC_WINDOW_SECONDS = 1.0


@pytest.fixture
def globex_ad_account(globex, sandbox):
    user = sandbox.state.create_user(username="globex-ads", ad_accounts=1)
    tokens = sandbox.state.issue_tokens(user["id"])
    connection = connection_connect(
        workspace=globex,
        tokens=TokenSet(tokens["access_token"], tokens["refresh_token"], tokens.get("expires_in"), None, ""),
    )
    return connection.ad_accounts.get()


def test_a_list_that_just_arrived_is_not_stuck_behind_another_lists_backlog(sandbox, acme, ad_account, fast):
    backlog = launched(acme, ad_account, "Backlog")
    small = launched(acme, ad_account, "Small")
    services.users_enter(canvas=backlog, users=make_users(7_500))  # 30 requests: ~4.5 s of the user's budget
    services.users_enter(canvas=small, users=make_users(100, start=10_000))

    pump.run(0, seconds=6)

    writes = list_writes(sandbox)
    backlog_times = [r["t"] for r in writes if r["records"] == 250]  # full batches
    small_times = [r["t"] for r in writes if r["records"] == 100]  # the small list's one request
    assert len(backlog_times) == 30 and len(small_times) == 1
    # It goes once it has waited the window and the requests already in flight (a second or so) have left,
    # not after the backlog's 30.
    assert small_times[0] < backlog_times[15], "the small list waited behind the backlog"
    assert SyncRecord.objects.filter(state="synced").count() == 7_600


def test_two_pinterest_users_are_served_at_once_each_within_its_own_budget(
    sandbox, acme, ad_account, globex, globex_ad_account, fast
):
    first = launched(acme, ad_account, "Acme list")
    second = launched(globex, globex_ad_account, "Globex list")
    services.users_enter(canvas=first, users=make_users(5_000))  # 20 requests each: ~3 s of one user's budget
    services.users_enter(canvas=second, users=make_users(5_000))

    pump.run(0, seconds=5)

    writes = list_writes(sandbox)
    by_user: dict[str, list[float]] = {}
    for r in writes:
        by_user.setdefault(r["token_user"], []).append(r["t"])
    assert sorted(len(times) for times in by_user.values()) == [20, 20]
    acme_times, globex_times = by_user.values()
    # Side by side, not one after the other: each user's requests span its own ~3 s.
    assert min(globex_times) < max(acme_times) and min(acme_times) < max(globex_times)
    overlap = min(max(acme_times), max(globex_times)) - max(min(acme_times), min(globex_times))
    assert overlap > 1.5
    for times in by_user.values():  # and neither went over Pinterest's 7 per rolling second
        assert all(sum(1 for u in times if t - 1.0 < u <= t) <= 7 for t in times)
    assert SyncRecord.objects.filter(state="synced").count() == 10_000


def test_entering_never_queues_more_than_one_start_per_pump(sandbox, add_canvas, settings):
    from django_q.brokers import get_broker

    broker = get_broker()
    broker.purge_queue()
    settings.SYNC_SENDER_AUTOSTART = True
    try:
        for call in range(50):
            services.users_enter(canvas=add_canvas, users=make_users(10, start=call * 10))
        assert broker.queue_size() == settings.SYNC_PUMPS  # one start for the one pump slot, not one per call
    finally:
        broker.purge_queue()


def test_counts_equal_a_recount_of_the_users_under_faults_and_concurrent_entries(sandbox, add_canvas, fast):
    sandbox.state.set_faults(rate_429=0.2, rate_5xx=0.1)

    def enter(start: int) -> None:
        try:
            for call in range(5):
                services.users_enter(canvas=add_canvas, users=make_users(200, start=start + call * 200))
        finally:
            db_connection.close()

    entering = [threading.Thread(target=enter, args=(n * 10_000,)) for n in range(3)]
    for thread in entering:
        thread.start()
    pump.run(0, seconds=4)
    for thread in entering:
        thread.join()
    step = add_canvas.steps.get()
    services.records_error_expired()

    recount = dict(SyncRecord.objects.filter(step=step).values_list("state").annotate(n=Count("id")))
    counted = dict(StepCount.objects.filter(step=step).exclude(n=0).values_list("state", "n"))
    assert counted == recount
    numbers = metrics.step_metrics(step)
    assert numbers.entered == 3_000 == numbers.synced + numbers.not_synced + numbers.pending + numbers.errored
    assert numbers.synced > 0 and sandbox.state.requests_log()  # it really sent, through the faults


def test_reading_a_steps_numbers_does_not_read_its_users(sandbox, add_canvas):
    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(2_000))
    with CaptureQueriesContext(db_connection) as queries:
        numbers = metrics.step_metrics(step, is_last=True)
        metrics.step_hourly_series(step, hours=48)
    assert numbers.entered == numbers.pending == 2_000
    assert len(queries) == 2
    assert not any(SyncRecord._meta.db_table in q["sql"] for q in queries.captured_queries)


def test_the_pump_carries_on_through_a_database_restart(sandbox, add_canvas, fast, monkeypatch):
    """Every connection cut (a restart, a failover): the pump and its sender threads connect again and send."""
    from django.db import OperationalError

    from audiences.sending import delivery, records

    services.users_enter(canvas=add_canvas, users=make_users(1_000))
    read_work_list, send_batch = records.lists_touched_since, delivery.send_batch
    failures = {"reads": 3, "sends": 2}

    def work_list_while_restarting(since):
        if failures["reads"]:
            failures["reads"] -= 1
            raise OperationalError("terminating connection due to administrator command")
        return read_work_list(since)

    def send_while_restarting(audience_id, action, *, at_least=1):
        if failures["sends"]:
            failures["sends"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        return send_batch(audience_id, action, at_least=at_least)

    monkeypatch.setattr(records, "lists_touched_since", work_list_while_restarting)
    monkeypatch.setattr(delivery, "send_batch", send_while_restarting)
    monkeypatch.setattr(pump, "DATABASE_RETRY_SECONDS", 0.2)

    pump.run(0, seconds=6)

    assert failures == {"reads": 0, "sends": 0}
    numbers = metrics.step_metrics(add_canvas.steps.get())
    assert (numbers.synced, numbers.pending) == (1_000, 0)


def test_a_pump_that_lost_its_slot_leaves_it_to_the_pump_holding_it(sandbox, add_canvas, monkeypatch):
    """The database was away longer than the slot's lease and another pump took the slot: this one stops."""
    import time

    from audiences import leases

    services.users_enter(canvas=add_canvas, users=make_users(10))
    monkeypatch.setattr(leases, "renew", lambda name, owner, *, seconds: False)
    started = time.monotonic()
    pump.run(0, seconds=20)
    assert time.monotonic() - started < 5


def test_a_trickling_list_is_read_again_only_when_new_users_reach_it(sandbox, add_canvas):
    """The pump polls its work list ten times a second; a list's users are counted again only after a touch."""
    from datetime import timedelta

    from django.utils import timezone

    from audiences.sending import pinterest as to_pinterest

    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(5))
    the_pump = pump.Pump(pump.slot_of(to_pinterest.budget_of(step.ad_account.connection)), owner="test")
    first_poll = timezone.now()
    the_pump._read_work_list(None)
    the_pump._refresh(timezone.now())
    key = (step.audience_id, step.action)
    assert the_pump.lists[key].due == 5

    def records_read_by_one_tick() -> list[str]:
        with CaptureQueriesContext(db_connection) as queries:
            the_pump._read_work_list(first_poll - timedelta(seconds=1))  # the polls overlap by a second
            the_pump._refresh(timezone.now())
        return [q["sql"] for q in queries.captured_queries if SyncRecord._meta.db_table in q["sql"]]

    assert records_read_by_one_tick() == []  # the list came back from the poll, but nobody new reached it
    services.users_enter(canvas=add_canvas, users=make_users(5, start=100))
    assert records_read_by_one_tick() != []
    assert the_pump.lists[key].due == 10
