"""The README's "Scaling out", followed verbatim: PostgreSQL, Redis, gunicorn with 2 web processes and
3 `qcluster` processes; a partner enters users through the API and sees them synced at Pinterest (the sandbox)."""

import time

import pytest
import redis
import requests

from tests.api_support import key_for
from tests.faults.processes import Processes, free_port, scaled_out_or_skip, service_env, wait_http
from tests.figures import report

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

USERS = 6_000


def test_two_web_and_three_worker_processes_sync_what_a_partner_enters(sandbox, connection, acme, tmp_path):
    scaled_out_or_skip()
    redis.Redis.from_url(connection_redis_url()).flushdb()  # no task left from an earlier run
    port = free_port()
    # README, "Scaling out": the same environment for every process, then migrate, the web, the workers.
    run = Processes(service_env(sandbox.url, Q_WORKERS=2), tmp_path)
    try:
        run.manage("migrate", "--noinput")
        run.web(port, workers=2)
        for _ in range(3):
            run.worker()
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", ok=lambda r: r.status_code == 200)

        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {key_for(acme)}"
        ad_account = next(a["id"] for a in api.get(f"{base}/api/v1/connection/").json()["ad_accounts"] if a["enabled"])
        canvas = api.post(f"{base}/api/v1/canvases/", json={"name": "Welcome series"}).json()["id"]
        step = api.post(f"{base}/api/v1/canvases/{canvas}/steps/", json={
            "ad_account": ad_account, "audience": {"new": "Welcome audience"}, "match_fields": ["email"],
        }).json()["id"]
        assert api.post(f"{base}/api/v1/canvases/{canvas}/launch/").status_code == 200

        started = time.monotonic()
        for batch in range(0, USERS, 2_000):
            users = [{"external_id": f"u{i}", "email": f"user{i}@scale.test"} for i in range(batch, batch + 2_000)]
            answer = api.post(f"{base}/api/v1/canvases/{canvas}/entries/", json={"users": users},
                              headers={"Idempotency-Key": f"batch-{batch}"})
            assert answer.status_code == 202, answer.text
        # A partner retrying a call it is unsure of enters nobody twice.
        replay = api.post(f"{base}/api/v1/canvases/{canvas}/entries/", json={"users": users},
                          headers={"Idempotency-Key": f"batch-{batch}"})
        assert replay.headers.get("Idempotent-Replayed") == "true"

        deadline = time.monotonic() + 180
        while True:
            numbers = api.get(f"{base}/api/v1/steps/{step}/metrics/").json()
            if numbers["synced"] == USERS or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        drained = time.monotonic() - started
        assert (numbers["entered"], numbers["synced"], numbers["pending"], numbers["errored"]) == (USERS, USERS, 0, 0), \
            run.log_tail()

        lists = sandbox.state.customer_lists()
        assert len(lists) == 1
        assert len(sandbox.state.customer_list_records(lists[0]["id"])) == USERS
        health = requests.get(f"{base}/healthz").json()
        assert health["status"] == "ok", health
        report(f"scale-out: {USERS} users through 2 web + 3 worker processes, synced in {drained:.1f} s")
    finally:
        run.stop_all()


def connection_redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL
