"""Proven under faults at scale: several workspaces (each its own Pinterest user), three worker clusters on
PostgreSQL + Redis, and everything around the service failing while users are entered and sent.

Faults, in one run: the sandbox answering a share of 429/500/503 slowly; every worker SIGKILLed while a batch is
claimed; the web restarted while the partner retries its entry calls with their Idempotency-Key; a whole
machine's workers (a qcluster and its children) killed and replaced; PostgreSQL restarted (every connection
cut); a customer list deleted on Pinterest (as Ads Manager can: the service makes a new list with every user
the old one had); Pinterest unreachable (connection refused) for FAULT_OUTAGE_SECONDS; Redis restarted. At
the end nothing is lost or counted twice, the limits held, and the metrics equal a recount from the
sandbox's own log. The figures print at the end.

The run has a PostgreSQL server and a Redis of its own, so restarting them touches nobody else's.

FAULT_USERS (50,000) and FAULT_WORKSPACES (5) size the run; FAULT_LOG_LEVEL (WARNING) is the level of the
service processes' logs, kept in the test's temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from collections import Counter, defaultdict
from datetime import timedelta

import dj_database_url
import pytest
import requests
from django.db import InterfaceError, OperationalError, connections
from django.db.models import Count
from django.utils import timezone

from audiences import services
from audiences.metrics import step_metrics
from audiences.models import Lease, SendLog, SyncRecord
from audiences.sending import pump
from integrations.pinterest.client import TokenSet
from integrations.services.connections import connection_connect
from integrations.services.workspaces import workspace_create
from tests.api_support import key_for
from tests.faults.chaos import OwnPostgres, OwnRedis, RestartableSandbox, postgres_bin
from tests.faults.processes import (
    Processes,
    children,
    free_port,
    service_env,
    wait_http,
)
from tests.figures import report
from tests.test_ops_metrics import pick

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

USERS = int(os.environ.get("FAULT_USERS", 50_000))
WORKSPACES = int(os.environ.get("FAULT_WORKSPACES", 5))
OUTAGE_SECONDS = float(os.environ.get("FAULT_OUTAGE_SECONDS", 30))
CALL_SIZE = 2_000
# Between a partner's calls: entering spans the faults rather than ending before them.
PARTNER_PAUSE_SECONDS = float(os.environ.get("FAULT_PARTNER_PAUSE_SECONDS", 2.5))
DRAIN_TIMEOUT = 300


@pytest.fixture
def pinterest(settings):
    server = RestartableSandbox(host="127.0.0.1", port=free_port(), client_id=settings.PINTEREST_CLIENT_ID,
                                client_secret=settings.PINTEREST_CLIENT_SECRET)
    server.start()
    settings.PINTEREST_API_BASE_URL = server.url
    yield server
    try:
        server.stop()
    except Exception:  # noqa: BLE001 - already stopped by the outage
        pass


class Partner(threading.Thread):
    """Enters every workspace's users through the API in calls of CALL_SIZE, retrying each call with its key."""

    def __init__(self, base: str, steps: list[dict]):
        super().__init__(daemon=True)
        self.base, self.steps = base, steps
        self.calls = [(w, start) for start in range(0, USERS // WORKSPACES, CALL_SIZE) for w in range(WORKSPACES)]
        self.done = 0
        self.retries = 0
        self.replayed = 0
        self.error: str | None = None

    def run(self) -> None:
        try:
            for workspace, start in self.calls:
                step = self.steps[workspace]
                size = min(CALL_SIZE, USERS // WORKSPACES - start)
                users = [{"external_id": f"w{workspace}-u{i}", "email": f"w{workspace}.user{i}@faults.test"}
                         for i in range(start, start + size)]
                key = f"w{workspace}-{start}"
                while True:
                    try:
                        answer = requests.post(
                            f"{self.base}/api/v1/canvases/{step['canvas']}/entries/", json={"users": users},
                            headers={"Authorization": f"Bearer {step['key']}", "Idempotency-Key": key}, timeout=60,
                        )
                        if answer.status_code == 202:
                            self.replayed += answer.headers.get("Idempotent-Replayed") == "true"
                            break
                        assert answer.status_code >= 500 or answer.status_code == 429, answer.text[:500]
                    except requests.RequestException:
                        pass
                    self.retries += 1
                    time.sleep(0.5)
                self.done += 1
                time.sleep(PARTNER_PAUSE_SECONDS)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = repr(exc)


def logged_by_the_sender(entry: dict) -> bool:
    """The requests the sender writes a SendLog row for: create, add/remove (PATCH), find (the list of lists)."""
    path = entry["path"]
    return "/customer_lists" in path and (entry["method"] in ("POST", "PATCH") or path.endswith("/customer_lists"))


def wait_for(condition, timeout: float, what: str) -> float:
    """Poll `condition` (which may read the database: while it restarts, ask again on a new connection)."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except (OperationalError, InterfaceError):
            connections["default"].close()
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}: {state_of_the_run()}"
        time.sleep(0.2)


def state_of_the_run() -> str:
    """What a failure message needs to say where the run stood."""
    try:
        leases_now = list(Lease.objects.values_list("name", "owner", "expires_at"))
        logged = list(SendLog.objects.values_list("operation", "outcome", "http_status").annotate(n=Count("id")))
        states = list(SyncRecord.objects.values_list("state").annotate(n=Count("id")))
    except (OperationalError, InterfaceError) as exc:
        return f"database unreachable ({exc})"
    return f"now {timezone.now()}, leases {leases_now}, send log {logged}, records {states}"


@contextlib.contextmanager
def database_at(url: str):
    """This process's default database is the one at `url` (the run's own server) until the block ends."""
    conn = connections["default"]
    saved = dict(conn.settings_dict)
    target = dj_database_url.parse(url)
    conn.close()
    conn.settings_dict.update({key: target[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")})
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)


def test_nothing_is_lost_or_counted_twice_under_faults(pinterest, tmp_path):
    from django.db import connection as db

    if db.vendor != "postgresql":
        pytest.skip("the fault suite runs on PostgreSQL (DATABASE_URL=postgres://...)")
    if not shutil.which("redis-server"):
        pytest.skip("the fault suite starts a redis-server of its own; none is installed")
    if postgres_bin() is None:
        pytest.skip("the fault suite starts a PostgreSQL server of its own; initdb and pg_ctl are not installed")

    own_postgres = OwnPostgres(free_port(), tmp_path)
    own_postgres.create("faults")
    own_redis = OwnRedis(free_port(), tmp_path)
    own_redis.start()
    try:
        with database_at(own_postgres.url("faults")):
            run_under_faults(pinterest, own_postgres, own_redis, tmp_path)
    finally:
        own_redis.stop()
        own_postgres.remove()


def run_under_faults(pinterest, own_postgres: OwnPostgres, own_redis: OwnRedis, tmp_path) -> None:
    run = Processes(service_env(pinterest.url, REDIS_URL=own_redis.url, Q_WORKERS=2, SYNC_LEASE_SECONDS=15,
                                LOG_LEVEL=os.environ.get("FAULT_LOG_LEVEL", "WARNING")), tmp_path)
    run.manage("migrate", "--noinput")
    steps = []
    for w in range(WORKSPACES):
        workspace = workspace_create(slug=f"shop-{w}", name=f"Shop {w}")
        user = pinterest.state.create_user(username=f"shop-{w}-ads", ad_accounts=1)
        tokens = pinterest.state.issue_tokens(user["id"])
        connection = connection_connect(workspace=workspace, tokens=TokenSet(
            tokens["access_token"], tokens["refresh_token"], tokens.get("expires_in"), None, tokens.get("scope", "")))
        ad_account = connection.ad_accounts.get()
        canvas = services.canvas_create(workspace=workspace, name="Welcome series")
        audience = services.audience_create_draft(workspace=workspace, ad_account=ad_account, name="Welcome audience")
        step = services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience)
        services.canvas_launch(canvas=canvas)
        steps.append({"canvas": canvas.pk, "step": step, "key": key_for(workspace), "user": user["id"]})

    pinterest.state.set_faults(rate_429=0.05, rate_5xx=0.05, rate_500=0.05, latency_ms=150)
    port = free_port()
    faults: Counter = Counter()
    try:
        web = run.web(port, workers=2)
        clusters = [run.worker() for _ in range(3)]
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", ok=lambda r: r.status_code == 200)

        started = time.monotonic()
        partner = Partner(base, steps)
        partner.start()

        # 1. Every worker SIGKILLed while a batch is claimed (mid-batch).
        wait_for(lambda: SyncRecord.objects.exclude(lease_owner="").filter(state="pending").exists(), 120,
                 "a claimed batch")
        for cluster in clusters:
            for sentinel in children(cluster.pid):
                for worker in children(sentinel):
                    os.kill(worker, signal.SIGKILL)
                    faults["cluster process SIGKILLed"] += 1

        # 2. The web restarted while the partner retries its calls with their Idempotency-Key.
        wait_for(lambda: partner.done >= len(partner.calls) // 4, 120, "a quarter of the entries")
        run.stop(web)
        time.sleep(2)
        web = run.web(port, workers=2)
        faults["web restarted"] += 1

        # 3. The first workspace's customer list deleted on Pinterest while its users are still being entered.
        assert partner.done < len(partner.calls), "entering ended before the list could be deleted"
        deleted_list = wait_for_list(steps[0])
        assert pinterest.state.delete_list(deleted_list)
        faults["customer list deleted on Pinterest"] += 1

        # 4. PostgreSQL restarted while a pump runs: every connection of every process cut, refused for 3 s.
        wait_for(pump_running, 120, "a running pump")
        own_postgres.restart(down_seconds=3)
        postgres_back = time.time()
        connections["default"].close()
        faults["PostgreSQL restarted"] += 1

        # Nothing stuck: the senders connect again and send.
        wait_for(lambda: any(e["t"] > postgres_back and logged_by_the_sender(e) for e in pinterest.state.requests_log()),
                 30, "a request to Pinterest after PostgreSQL was back")
        resumed = max(0.0, min(e["t"] for e in pinterest.state.requests_log()
                               if e["t"] > postgres_back and logged_by_the_sender(e)) - postgres_back)

        # 5. A whole machine's workers (one qcluster and its children) killed, and a new one started.
        os.killpg(clusters[0].pid, signal.SIGKILL)
        clusters[0].wait()
        clusters[0] = run.worker()
        faults["qcluster killed with its children"] += 1

        # 6. Pinterest unreachable (connection refused).
        pinterest.go_away()
        time.sleep(OUTAGE_SECONDS)
        pinterest.come_back()
        faults[f"Pinterest unreachable {OUTAGE_SECONDS:.0f} s"] += 1

        # 7. Redis restarted (empty: the broker's queue, the limiter's and the throttle's state are gone).
        own_redis.restart()
        faults["Redis restarted"] += 1

        partner.join(timeout=DRAIN_TIMEOUT)
        assert partner.error is None, partner.error
        assert partner.done == len(partner.calls)
        per_workspace = USERS // WORKSPACES
        wait_for(lambda: all(step_metrics(s["step"]).pending == 0 and step_metrics(s["step"]).entered == per_workspace
                             for s in steps), DRAIN_TIMEOUT, "the backlog to drain")
        drained = time.monotonic() - started

        # --- Nothing lost, nothing twice, the counts add up.
        lost = duplicates = 0
        for s in steps:
            step = s["step"]
            numbers = step_metrics(step)
            assert numbers.entered == numbers.synced + numbers.not_synced + numbers.pending + numbers.errored
            assert (numbers.entered, numbers.synced, numbers.errored) == (per_workspace, per_workspace, 0), \
                (numbers, run.log_tail())
            records = SyncRecord.objects.filter(step=step)
            assert records.count() == records.values("external_id").distinct().count() == per_workspace
            members = pinterest.state.customer_list_records(step.audience.lists.get().pinterest_customer_list_id)
            lost += per_workspace - len(members)
            duplicates += records.count() - per_workspace
        # One list per audience, none made twice; the deleted one made again, holding every user it had.
        assert len(pinterest.state.customer_lists()) == WORKSPACES
        assert steps[0]["step"].audience.lists.get().pinterest_customer_list_id != deleted_list
        assert (lost, duplicates) == (0, 0)

        # --- The limits held.
        log = pinterest.state.requests_log()
        sends = [e for e in log if e.get("records") is not None]
        biggest = max(e["records"] for e in sends)
        assert biggest <= 1_900
        busiest = 0
        by_user = defaultdict(list)
        for entry in log:
            if entry.get("token_user"):
                by_user[entry["token_user"]].append(entry["t"])
        for times in by_user.values():
            times.sort()
            for i in range(len(times)):
                j = i
                while j + 1 < len(times) and times[j + 1] - times[i] < 1.0:
                    j += 1
                busiest = max(busiest, j - i + 1)
        assert busiest <= 7

        # --- The metrics equal a recount from the sandbox's own log.
        scrape = requests.get(f"{base}/metrics", timeout=30)
        assert scrape.status_code == 200
        from prometheus_client.parser import text_string_to_metric_families

        samples = {}
        for family in text_string_to_metric_families(scrape.text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        for s in steps:
            synced = pick(samples, "audience_sync_step_users", step=str(s["step"].pk), state="synced")
            members = pinterest.state.customer_list_records(s["step"].audience.lists.get().pinterest_customer_list_id)
            assert list(synced.values()) == [len(members)]
        measured = Counter()
        for labels, value in pick(samples, "audience_sync_pinterest_requests_total").items():
            measured[dict(labels)["status"]] += int(value)
        counted = Counter(str(e["status"]) for e in log if logged_by_the_sender(e))
        # No answer written down: refused (Pinterest away), or the sender was killed, or the database was
        # away, between the request and writing its answer. Pinterest counted those; we could not.
        unanswered = SendLog.objects.filter(http_status__isnull=True).count()
        for status in set(counted) | set(measured):
            if status != "none":
                assert measured[status] <= counted[status], (status, measured, counted)
        assert sum(counted.values()) - sum(v for k, v in measured.items() if k != "none") <= unanswered
        retries = SendLog.objects.filter(outcome=SendLog.Outcome.RETRY).count()

        report("\n".join([
            "== fault suite figures",
            f"users: {USERS:,} over {WORKSPACES} workspaces (each its own Pinterest user), 3 worker clusters, 2 web processes",
            "faults injected: " + ", ".join(f"{name} x{n}" for name, n in faults.items())
            + f", sandbox 429s: {counted['429']}, 500s: {counted['500']}, 503s: {counted['503']}, latency 150 ms",
            f"requests to Pinterest: {len(sends)}; retried by the sender: {retries}; unanswered: {unanswered}",
            f"partner entry calls: {len(partner.calls)}, retried: {partner.retries}, answered as replays: {partner.replayed}",
            f"largest request: {biggest:,} records; most requests of one Pinterest user in a rolling second: {busiest}",
            f"first request to Pinterest after PostgreSQL was back: {resumed:.1f} s",
            f"time to drain: {drained:.1f} s",
            f"lost: {lost}, entered twice: {duplicates}",
        ]))
    finally:
        run.stop_all()


def pump_running() -> bool:
    """A pump renewed its slot within the last two seconds (a dead pump's lease stays live until it lapses)."""
    renewed_after = timezone.now() + timedelta(seconds=pump.SLOT_LEASE_SECONDS - 2)
    return Lease.objects.filter(name="pump:0", expires_at__gt=renewed_after).exists()


def wait_for_list(step: dict) -> str:
    """The Pinterest id of the step's customer list, once the first batch made it."""
    found: list[str] = []

    def made() -> bool:
        found[:] = step["step"].audience.lists.exclude(pinterest_customer_list_id="").values_list(
            "pinterest_customer_list_id", flat=True)
        return bool(found)

    wait_for(made, 120, "the first customer list")
    return found[0]
