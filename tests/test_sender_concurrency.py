"""Several senders share one backlog: no record is sent twice, none is lost, a dead sender's batch is resent."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.db import connection as db
from django.utils import timezone

from audiences import services
from audiences.sending import pump, records
from audiences.sending.pump import send_due_now
from audiences.metrics import step_metrics
from audiences.models import SendLog, SyncRecord
from tests.conftest import make_users

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(sandbox, **extra) -> dict:
    """Environment for a sender process that uses this test's database and sandbox."""
    conf = settings.DATABASES["default"]
    if db.vendor == "sqlite":
        url = f"sqlite:///{conf['NAME']}"
    else:
        url = f"postgres://{conf['USER']}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        REDIS_URL=settings.REDIS_URL,
        PINTEREST_API_BASE_URL=sandbox.url,
        PINTEREST_CLIENT_ID=settings.PINTEREST_CLIENT_ID,
        PINTEREST_CLIENT_SECRET=settings.PINTEREST_CLIENT_SECRET,
        SYNC_SENDER_AUTOSTART="0",
        LOG_LEVEL="WARNING",
        **{k: str(v) for k, v in extra.items()},
    )
    return env


def wait_until(condition, failure: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


def test_it_never_sends_a_record_twice_with_two_senders_on_one_backlog(sandbox, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(6_000))
    env = subprocess_env(sandbox, SYNC_BATCH_SIZE=250)
    command = [sys.executable, "manage.py", "sync_now"]
    senders = [subprocess.Popen(command, cwd=ROOT, env=env) for _ in range(2)]
    assert [p.wait(timeout=120) for p in senders] == [0, 0]
    send_due_now()  # anything a sender left behind (none expected)

    step = add_canvas.steps.get()
    numbers = step_metrics(step)
    assert numbers.synced == 6_000
    list_id = step.audience.lists.get().pinterest_customer_list_id
    assert len(sandbox.state.customer_list_records(list_id)) == 6_000
    uploaded = [
        e["records"] for e in sandbox.state.requests_log()
        if e["status"] == 200 and e["method"] in ("POST", "PATCH") and "/customer_lists" in e["path"]
    ]
    assert sum(uploaded) == 6_000  # every record exactly once: none twice, none lost
    assert len(uploaded) == 6_000 // 250


def test_it_resends_the_batch_of_a_sender_killed_mid_request(sandbox, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(500))
    sandbox.state.set_faults(latency_ms=3000)
    env = subprocess_env(sandbox, SYNC_LEASE_SECONDS=4)
    sender = subprocess.Popen([sys.executable, "manage.py", "sync_now"], cwd=ROOT, env=env)
    wait_until(lambda: SendLog.objects.filter(outcome=SendLog.Outcome.STARTED).exists(),
               "the sender never started its request")  # logged right before the request leaves
    sender.send_signal(signal.SIGKILL)
    sender.wait()
    sandbox.state.set_faults(latency_ms=0)

    assert send_due_now() == 0  # still leased to the dead sender: nobody else sends it yet
    wait_until(lambda: not SyncRecord.objects.filter(lease_expires_at__gt=timezone.now()).exists(),
               "the dead sender's lease never lapsed")
    send_due_now()

    numbers = step_metrics(add_canvas.steps.get())
    assert (numbers.synced, numbers.pending) == (500, 0)
    # The killed request had created the list at Pinterest: it was found and used, not made twice.
    assert len(sandbox.state.customer_lists()) == 1


def test_it_reclaims_records_whose_lease_expired(sandbox, add_canvas):
    services.users_enter(canvas=add_canvas, users=make_users(50))
    step = add_canvas.steps.get()
    claimed = records.claim(step.audience_id, step.action, owner="dead-worker", now=timezone.now(), at_least=1)
    assert len(claimed) == 50
    assert send_due_now() == 0  # leased to a sender that will never finish

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.SYNC_LEASE_SECONDS + 1), tick=True):
        send_due_now()
        assert step_metrics(step).synced == 50


def test_one_pump_keeps_several_requests_in_flight_when_pinterest_answers_slowly(sandbox, add_canvas, settings):
    settings.SYNC_BATCH_SIZE = 250
    services.users_enter(canvas=add_canvas, users=make_users(2_000))
    step = add_canvas.steps.get()
    sandbox.state.set_faults(latency_ms=400)
    try:
        # One at a time, eight answers of 0.4 s take 3.2 s; with several in flight it is done well before.
        handled = pump.run(0, seconds=2.4)
    finally:
        sandbox.state.set_faults(latency_ms=0)

    assert handled == 2_000
    assert step_metrics(step).synced == 2_000
    uploaded = [
        e["records"] for e in sandbox.state.requests_log()
        if e["status"] == 200 and e["method"] in ("POST", "PATCH") and "/customer_lists" in e["path"]
    ]
    assert sorted(uploaded) == [250] * 8  # every record once, in full batches
