"""At most 7 requests per second per Pinterest user token, however many processes send.

The proof runs real worker processes against the sandbox and counts what
arrived there in every rolling second. The same test runs on SQLite (a
small state file per token under an exclusive flock) and on PostgreSQL +
Redis (a Lua script): CI runs the suite under both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integrations.services.tokens import client_for
from integrations.pinterest import client as pinterest
from integrations.pinterest import ratelimit
from tests.process_support import database_url_for_another_process

REPO = Path(__file__).resolve().parent.parent

WORKER = r"""
import sys

import django

django.setup()

from integrations.models import PinterestConnection
from integrations.services.tokens import client_for

client = client_for(PinterestConnection.objects.get(pk=int(sys.argv[1])))
print("ready", flush=True)
sys.stdin.readline()  # every worker starts at the same moment
for _ in range(int(sys.argv[2])):
    client.user_account()
print("done", flush=True)
"""


def max_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def arrivals(sandbox, path: str) -> list[float]:
    return [r["t"] for r in sandbox.state.requests_log() if r["path"].endswith(path) and r["status"] == 200]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_three_processes_sharing_a_token_never_exceed_7_requests_in_any_second(connection, sandbox, settings):
    # Only the workers' own calls in the window: connecting just made two.
    time.sleep(max(0.0, sandbox.state.requests_log()[-1]["t"] + 1.05 - time.time()))
    before = len(arrivals(sandbox, "/user_account"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DATABASE_URL": database_url_for_another_process(),
        "REDIS_URL": settings.REDIS_URL,
        "PINTEREST_API_BASE_URL": sandbox.url,
        "SYNC_RATE_LIMIT_PER_SECOND": str(settings.SYNC_RATE_LIMIT_PER_SECOND),
        "SYNC_RATE_LIMIT_MARGIN_SECONDS": str(settings.SYNC_RATE_LIMIT_MARGIN_SECONDS),
        "LOG_LEVEL": "WARNING",
    }
    calls = 20
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(connection.pk), str(calls)], cwd=REPO, env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        for worker in workers:
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0 and "done" in out, err[-2000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    times = sorted(arrivals(sandbox, "/user_account"))[before:]
    assert len(times) == 3 * calls
    assert max_in_any_second(times) <= settings.SYNC_RATE_LIMIT_PER_SECOND
    throughput = (len(times) - 1) / (times[-1] - times[0])
    assert throughput >= 5.5, f"only {throughput:.2f} requests/s: the limiter crawls"


@pytest.mark.django_db(transaction=True)
def test_a_429_pauses_every_client_of_the_token(connection, sandbox):
    sandbox.state.fail_next(1, 429)  # with Retry-After: 1
    first, second = client_for(connection), client_for(connection)

    with pytest.raises(pinterest.RateLimited) as limited:
        first.user_account()
    assert limited.value.retry_after == 1
    refused_at = time.time()
    second.user_account()

    assert time.time() - refused_at >= 0.95


@pytest.mark.django_db(transaction=True)
def test_a_429_without_retry_after_pauses_one_second(connection, sandbox):
    sandbox.state.retry_after_on_429 = False
    sandbox.state.fail_next(1, 429)
    client = client_for(connection)

    try:
        with pytest.raises(pinterest.RateLimited) as limited:
            client.user_account()
    finally:
        sandbox.state.retry_after_on_429 = True
    assert limited.value.retry_after is None
    refused_at = time.time()
    client.user_account()

    assert time.time() - refused_at >= 0.9


def test_slots_never_put_rate_plus_one_requests_in_a_second_and_use_the_whole_budget():
    rate, window, spacing = 7, 1.05, 1.05 / 14
    slots: list[float] = []
    now = 1000.0
    for i in range(70):
        now += 0.001 * (i % 3)  # callers arrive in a burst
        slots.append(
            ratelimit.next_slot(slots[-rate * 2:], now=now, paused_until=0.0, rate=rate, window=window, spacing=spacing)
        )

    assert max_in_any_second(slots) == rate
    assert (len(slots) - 1) / (slots[-1] - slots[0]) > 6.5
    # A backlog's requests never leave as one burst: Pinterest takes them in one at a time.
    assert min(b - a for a, b in zip(slots, slots[1:])) >= spacing - 1e-9


def test_a_caller_that_wakes_late_sends_at_once_and_no_second_gets_an_eighth_request():
    """Nothing is reserved ahead: a late waker loses no slot, and what counts is when it really sends."""
    rate, window, spacing = 7, 1.05, 1.05 / 14
    recent: list[float] = []
    sent: list[float] = []
    now = 1000.0
    asks = 0
    for i in range(70):
        while True:
            asks += 1
            wait, _ = ratelimit.take(recent, now=now, paused_until=0.0, rate=rate, window=window, spacing=spacing)
            if not wait:
                sent.append(now)
                break
            now += wait + (0.03 if i % 3 == 0 else 0.0)  # a busy machine wakes some callers 30 ms late

    assert asks <= 2 * len(sent)  # one wait per request at most: a late waker is never sent back to the queue
    assert max_in_any_second(sent) == rate
    assert (len(sent) - 1) / (sent[-1] - sent[0]) > 6.5
    assert ratelimit.take(recent, now=now, paused_until=now + 1, rate=rate, window=window, spacing=spacing)[0] >= 1


def test_a_request_that_left_late_pushes_the_next_second_back_by_as_much():
    rate, window, spacing = 7, 1.05, 0.075
    recent: list[float] = []
    taken = [ratelimit.take(recent, now=1000.0 + i * 0.1, paused_until=0.0, rate=rate, window=window,
                            spacing=spacing)[1] for i in range(7)]
    # The first request left 40 ms after its time (its thread waited for the interpreter).
    recent = ratelimit.shifted(recent, taken[0], 0.04)

    wait, _ = ratelimit.take(recent, now=1001.0, paused_until=0.0, rate=rate, window=window, spacing=spacing)
    assert wait == pytest.approx(taken[0] + 0.04 + window - 1001.0)
