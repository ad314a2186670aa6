"""Benchmarks of the sender at scale, end to end through the REST API.

    .venv/bin/python bench/bench_scale.py tenants --tenants 8        # T workspaces x 20,000 users at once
    .venv/bin/python bench/bench_scale.py lists --lists 40           # one Pinterest user, L lists trickling 5 users/s
    .venv/bin/python bench/bench_scale.py burst                      # one list, 200,000 users at once
    .venv/bin/python bench/bench_scale.py metrics                    # reading a step's numbers at 10k/100k/1M records
    ... --database-url postgres://postgres@127.0.0.1:5432/bench --redis-url redis://127.0.0.1:6379/1

Each run starts on a fresh database: the sandbox with Pinterest's limits
(1,900 records per request, 7 requests per rolling second per Pinterest
user, 429 beyond), the web app (gunicorn, --web-workers processes) and a django-q2 cluster with
--workers processes. Users enter through `POST /api/v1/canvases/{id}/entries/`
as partner systems send them, and a user counts as done when the step's
metrics (`GET /api/v1/steps/{id}/metrics/`) say so. Everything shares the
machine's cores: the entering client, the web app, the workers, the
sandbox and the database.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stack import percentile, production_env, free_port, launched_canvas, prepare, start_sandbox, stop

CEILING = 7 * 1900  # users per second one Pinterest user allows


class Stack:
    """Sandbox, web and cluster on a fresh database, for one run."""

    def __init__(self, args):
        self.args = args
        workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        self.sandbox_port, self.web_port = free_port(), free_port()
        self.env = prepare(
            database_url=args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
            sandbox_port=self.sandbox_port,
            extra_env={"REDIS_URL": args.redis_url, "Q_WORKERS": str(args.workers),
                       "API_THROTTLE_RATE": "1000000/min", **production_env()},
        )
        self.processes: list[subprocess.Popen] = []
        self.api = f"http://127.0.0.1:{self.web_port}/api/v1"
        self.control = f"http://127.0.0.1:{self.sandbox_port}/_sandbox"

    def start(self, *, cluster: bool = True) -> None:
        import requests

        self.processes.append(start_sandbox(self.env, self.sandbox_port))
        web = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "project.wsgi", "--bind", f"127.0.0.1:{self.web_port}",
             "--workers", str(self.args.web_workers),
             *(["--threads", str(self.args.web_threads)] if self.args.web_threads else [])],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.processes.append(web)
        for _ in range(100):
            try:
                requests.get(f"{self.api}/schema/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        if cluster:
            self.start_cluster()

    def start_cluster(self) -> None:
        """The django-q2 cluster; its log goes to --log-file when given."""
        env = dict(self.env, LOG_LEVEL=self.args.log_level) if self.args.log_file else self.env
        log = open(self.args.log_file, "w") if self.args.log_file else subprocess.DEVNULL
        self.processes.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=env,
                                               stdout=log, stderr=log))
        time.sleep(3)  # let the workers start before the clock does

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop(process)

    def canvas(self, slug: str, *, new_user: bool = True, connection_of=None):
        """A launched one-step canvas and an API key for its workspace."""
        from integrations.api_keys import api_key_create

        workspace, canvas, step = launched_canvas(sandbox_port=self.sandbox_port, slug=slug)
        _, key = api_key_create(workspace=workspace, name="bench")
        return canvas, step, key

    def requests_log(self) -> list[dict]:
        import requests

        log = requests.get(f"{self.control}/requests", timeout=60).json()
        log = log.get("requests", log) if isinstance(log, dict) else log
        if self.args.requests_file:
            Path(self.args.requests_file).write_text(json.dumps(log))
        return log


def enter(session, api: str, key: str, canvas_id: int, users: list[dict]) -> None:
    response = session.post(f"{api}/canvases/{canvas_id}/entries/", json={"users": users},
                            headers={"Authorization": f"Bearer {key}"}, timeout=120)
    if response.status_code != 202:
        raise SystemExit(f"entry call answered {response.status_code}: {response.text[:300]}")


def synced(session, api: str, key: str, step_id: int) -> dict:
    response = session.get(f"{api}/steps/{step_id}/metrics/?hours=1", headers={"Authorization": f"Bearer {key}"},
                           timeout=30)
    response.raise_for_status()
    return response.json()["numbers"] if "numbers" in response.json() else response.json()


def users(prefix: str, start: int, n: int) -> list[dict]:
    return [{"external_id": f"{prefix}{i}", "email": f"{prefix}{i}@example.com"} for i in range(start, start + n)]


def limits_held(log: list[dict]) -> dict:
    """The most requests any Pinterest user got accepted in a rolling second, the largest request, 429s."""
    by_user: dict[str, list[float]] = {}
    for r in log:
        if r["status"] != 429 and r.get("token_user"):
            by_user.setdefault(r["token_user"], []).append(r["t"])
    most = 0
    for times in by_user.values():
        times.sort()
        j = 0
        for i, t in enumerate(times):
            while times[j] <= t - 1.0:
                j += 1
            most = max(most, i - j + 1)
    return {
        "max_requests_in_any_second_per_user": most,
        "largest_request_records": max((r["records"] or 0 for r in log), default=0),
        "requests_429": sum(1 for r in log if r["status"] == 429),
    }


def list_writes(log: list[dict]) -> list[dict]:
    return [r for r in log if "/customer_lists" in r["path"] and r["method"] in ("POST", "PATCH") and r["status"] == 200]


# --- (a) T workspaces in a burst ----------------------------------------------------------------------


def run_tenants(args) -> dict:
    import requests

    stack = Stack(args)
    stack.start(cluster=False)
    try:
        tenants = [stack.canvas(f"tenant{i}") for i in range(args.tenants)]
        stack.start_cluster()
        done_at: dict[int, float] = {}
        entered_at: dict[int, float] = {}
        started = time.time()

        def tenant(index: int) -> None:
            canvas, step, key = tenants[index]
            session = requests.Session()
            for start in range(0, args.users, args.entry_size):
                enter(session, stack.api, key, canvas.pk, users(f"t{index}-", start, min(args.entry_size, args.users - start)))
            entered_at[index] = time.time() - started
            while synced(session, stack.api, key, step.pk)["synced"] < args.users:
                if time.time() - started > args.timeout:
                    return
                time.sleep(0.1)
            done_at[index] = time.time() - started

        with ThreadPoolExecutor(max_workers=args.tenants) as pool:
            list(pool.map(tenant, range(args.tenants)))
        elapsed = max(done_at.values()) if len(done_at) == args.tenants else float("nan")
        log = stack.requests_log()
        result = {
            "scenario": "tenants", "tenants": args.tenants, "users_per_tenant": args.users,
            "all_done": len(done_at) == args.tenants,
            "seconds": round(elapsed, 2),
            "users_per_second": round(args.tenants * args.users / elapsed) if elapsed == elapsed else 0,
            "tenant_done_seconds": [round(done_at.get(i, float("nan")), 2) for i in range(args.tenants)],
            "tenant_entered_seconds": [round(entered_at.get(i, float("nan")), 2) for i in range(args.tenants)],
            "fastest_over_slowest": round(min(done_at.values()) / max(done_at.values()), 2) if done_at else 0,
            "requests": len(list_writes(log)),
            "requests_ideal": args.tenants * math.ceil(args.users / 1900),
            **limits_held(log),
        }
        return result
    finally:
        stack.stop()


# --- (b) L lists on one Pinterest user, trickling ---------------------------------------------------------


def run_lists(args) -> dict:
    import requests

    stack = Stack(args)
    from audiences import services
    from audiences.models import Canvas, SyncRecord

    stack.start(cluster=False)
    try:
        first, first_step, key = stack.canvas("lists")
        canvases = [(first, first_step)]
        ad_account = first_step.ad_account
        for i in range(1, args.lists):
            canvas = services.canvas_create(workspace=first.workspace, name=f"Canvas {i}")
            audience = services.audience_create_draft(workspace=first.workspace, ad_account=ad_account, name=f"List {i}")
            step = services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience)
            services.canvas_launch(canvas=canvas)
            canvases.append((canvas, step))
        stack.start_cluster()
        queue_lengths: list[int] = []
        stop_sampling = threading.Event()

        def sample_queue() -> None:
            from django_q.brokers import get_broker

            broker = get_broker()
            while not stop_sampling.is_set():
                queue_lengths.append(broker.queue_size() or 0)
                time.sleep(1)

        sampler = threading.Thread(target=sample_queue, daemon=True)
        sampler.start()
        local = threading.local()

        def call(index_second: tuple[int, int]) -> None:
            index, second = index_second
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            enter(session, stack.api, key, canvases[index][0].pk, users(f"l{index}-", second * args.rate, args.rate))

        started = time.time()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for second in range(args.seconds):
                list(pool.map(call, [(i, second) for i in range(args.lists)]))
                time.sleep(max(0.0, started + second + 1 - time.time()))
        entering_ended = time.time()
        total = args.lists * args.seconds * args.rate
        session = requests.Session()
        while sum(synced(session, stack.api, key, step.pk)["synced"] for _, step in canvases) < total:
            if time.time() - entering_ended > args.timeout:
                break
            time.sleep(0.5)
        stop_sampling.set()
        log = stack.requests_log()
        writes = list_writes(log)
        latencies = [
            (s - e).total_seconds()
            for e, s in SyncRecord.objects.filter(step__canvas__in=[c for c, _ in canvases], state="synced")
            .values_list("entered_at", "synced_at").iterator(chunk_size=10_000)
        ]
        # The token's use while users wait: accepted writes per second over the steady part of the run.
        steady = [r for r in writes if started + 10 <= r["t"] <= entering_ended]
        return {
            "scenario": "lists", "lists": args.lists, "users_per_second_per_list": args.rate, "seconds": args.seconds,
            "users": total, "synced": len(latencies),
            "latency_p50_s": round(percentile(latencies, 0.5), 2),
            "latency_p95_s": round(percentile(latencies, 0.95), 2),
            "latency_max_s": round(max(latencies), 2) if latencies else None,
            "requests": len(writes),
            "requests_per_list_per_minute": round(len(writes) / args.lists / ((entering_ended - started) / 60), 1),
            "records_per_request": round(total / len(writes), 1) if writes else 0,
            "token_requests_per_second_steady": round(len(steady) / max(1.0, entering_ended - started - 10), 2),
            "queue_length_max": max(queue_lengths, default=0),
            "queue_length_p50": percentile(queue_lengths, 0.5),
            "canvases": Canvas.objects.count(),
            **limits_held(log),
        }
    finally:
        stack.stop()


# --- (c) one list, a burst ---------------------------------------------------------------------------------


def run_burst(args) -> dict:
    import requests

    stack = Stack(args)
    stack.start(cluster=False)
    try:
        canvas, step, key = stack.canvas("burst")
        stack.start_cluster()
        session = requests.Session()
        started = time.time()

        def enter_all() -> None:
            client = requests.Session()
            for start in range(0, args.users, args.entry_size):
                enter(client, stack.api, key, canvas.pk, users("b", start, min(args.entry_size, args.users - start)))

        entering = threading.Thread(target=enter_all)
        entering.start()
        reads = []
        while True:
            before = time.time()
            numbers = synced(session, stack.api, key, step.pk)
            reads.append(time.time() - before)
            if numbers["synced"] >= args.users or time.time() - started > args.timeout:
                break
            time.sleep(0.05)
        elapsed = time.time() - started
        entering.join()
        log = stack.requests_log()
        writes = list_writes(log)
        return {
            "scenario": "burst", "users": args.users, "synced": numbers["synced"],
            "seconds": round(elapsed, 2),
            "users_per_second": round(numbers["synced"] / elapsed),
            "share_of_limit": round(numbers["synced"] / elapsed / CEILING, 3),
            "first_request_after_s": round(min(r["t"] for r in writes) - started, 2) if writes else None,
            "requests": len(writes), "requests_ideal": math.ceil(args.users / 1900),
            "metrics_read_p50_ms": round(statistics.median(reads) * 1000, 1),
            **limits_held(log),
        }
    finally:
        stack.stop()


# --- (d) reading a step's numbers ---------------------------------------------------------------------


def run_metrics(args) -> dict:
    stack = Stack(args)
    from django.db import transaction
    from django.utils import timezone

    from audiences import metrics
    from audiences.sending import records

    stack.start(cluster=False)
    try:
        _, step, _ = stack.canvas("metrics")
        results = []
        have = 0
        for target in args.records:
            now = timezone.now()
            while have < target:
                n = min(50_000, target - have)
                states = ("synced", "synced", "synced", "not_synced", "errored")
                rows = [
                    records.row(step_id=step.pk, audience_id=step.audience_id, action=step.action,
                                external_id=f"m{i}", hashes=(f"{i:064x}", "", ""), state=states[i % 5], now=now)
                    for i in range(have, have + n)
                ]
                with transaction.atomic():
                    records.insert(rows, now=now)
                have += n
            timings = []
            for _ in range(args.reads):
                before = time.perf_counter()
                numbers = metrics.step_metrics(step)
                metrics.step_hourly_series(step, hours=48)
                timings.append(time.perf_counter() - before)
            assert numbers.entered == have == numbers.synced + numbers.not_synced + numbers.pending + numbers.errored
            results.append({"records": have, "read_p50_ms": round(statistics.median(timings) * 1000, 2),
                            "read_max_ms": round(max(timings) * 1000, 2)})
        return {"scenario": "metrics", "reads": results}
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=["tenants", "lists", "burst", "metrics"])
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--workers", type=int, default=3, help="django-q2 worker processes")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--web-threads", type=int, default=0,
                        help="threads per gunicorn process (default: gunicorn.conf.py's, as the README deploys it)")
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--lists", type=int, default=40)
    parser.add_argument("--rate", type=int, default=5, help="users per second into each list")
    parser.add_argument("--seconds", type=int, default=60, help="how long the lists trickle")
    parser.add_argument("--users", type=int, default=None, help="per tenant (20,000) or in the burst (200,000)")
    parser.add_argument("--entry-size", type=int, default=10_000, help="users per entry call")
    parser.add_argument("--records", type=lambda v: [int(x) for x in v.split(",")], default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--requests-file", default="", help="write the sandbox's request log here (JSON)")
    parser.add_argument("--log-file", default="", help="write the workers' log here")
    parser.add_argument("--log-level", default="DEBUG", help="the workers' log level with --log-file")
    args = parser.parse_args()
    if args.users is None:
        args.users = 200_000 if args.scenario == "burst" else 20_000
    result = {"tenants": run_tenants, "lists": run_lists, "burst": run_burst, "metrics": run_metrics}[args.scenario](args)
    result["database"] = "postgresql" if (args.database_url or "").startswith("postgres") else "sqlite"
    result["broker"] = "redis" if args.redis_url else "orm"
    for name, value in result.items():
        print(f"{name:40} {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
