"""End-to-end benchmark of the sync engine against the local Pinterest sandbox.

    .venv/bin/python bench/bench_sync.py                      # 200,000 users, SQLite
    .venv/bin/python bench/bench_sync.py --users 1000000       # memory stays flat in N
    .venv/bin/python bench/bench_sync.py --rate 100 --users 3000   # latency at light load
    .venv/bin/python bench/bench_sync.py --database-url postgres://postgres@127.0.0.1:5432/bench \\
        --redis-url redis://127.0.0.1:6379/1

It starts the sandbox with Pinterest's real limits (1,900 records per
request, 7 requests per second per token) and a django-q2 cluster, on a
fresh database, enters N users into a launched canvas (in calls of
--entry-size, as a partner system would), waits until every user is synced,
and prints what it measured: users per second against the 13,300/s the
limits allow, requests sent against the ideal ceil(N / 1,900), the most
requests the sandbox saw in any rolling second, entry-to-synced latency
p50/p95, and the sender processes' peak memory (the largest process, and the whole
cluster with shared pages counted once).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from stack import percentile, free_port, launched_canvas, prepare, start_sandbox, stop


def memory_tree_kb(pid: int) -> dict[int, tuple[int, int]]:
    """(RSS, PSS) of a process and all its descendants, in KiB.

    PSS divides each shared page among the processes sharing it, so summing
    PSS gives the memory the whole cluster really uses; summing RSS counts
    the pages forked workers share with their parent once per process.
    """
    result = {}
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            sizes = {}
            with open(f"/proc/{current}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith(("Rss:", "Pss:")):
                        sizes[line.split(":")[0]] = int(line.split()[1])
            result[current] = (sizes.get("Rss", 0), sizes.get("Pss", 0))
            with open(f"/proc/{current}/task/{current}/children") as fh:
                stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return result


class MemoryWatcher(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_process_kb = 0
        self.peak_total_rss_kb = 0
        self.peak_total_pss_kb = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            tree = memory_tree_kb(self.pid)
            if tree:
                self.peak_process_kb = max(self.peak_process_kb, max(rss for rss, _ in tree.values()))
                self.peak_total_rss_kb = max(self.peak_total_rss_kb, sum(rss for rss, _ in tree.values()))
                self.peak_total_pss_kb = max(self.peak_total_pss_kb, sum(pss for _, pss in tree.values()))
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--entry-size", type=int, default=10_000, help="users per entry call")
    parser.add_argument("--rate", type=float, default=0, help="enter at most this many users per second (0: as fast as possible)")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--workers", type=int, default=4, help="django-q2 workers")
    parser.add_argument("--latency-ms", type=int, default=0, help="sandbox answer latency")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--timeline", action="store_true", help="print every customer-list request")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    sandbox_port = free_port()
    env = prepare(
        database_url=args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
        sandbox_port=sandbox_port,
        extra_env={"REDIS_URL": args.redis_url, "Q_WORKERS": str(args.workers)},
    )
    import requests
    from django.db.models import Count
    from django.utils import timezone

    from audiences import services
    from audiences.models import SyncRecord

    python = sys.executable
    processes: list[subprocess.Popen] = []
    try:
        processes.append(start_sandbox(env, sandbox_port, "--latency-ms", str(args.latency_ms)))
        control = f"http://127.0.0.1:{sandbox_port}/_sandbox"
        _, canvas, step = launched_canvas(sandbox_port=sandbox_port, slug="bench")

        cluster = subprocess.Popen([python, "manage.py", "qcluster"], env=env, stdout=subprocess.DEVNULL)
        processes.append(cluster)
        watcher = MemoryWatcher(cluster.pid)
        watcher.start()
        time.sleep(3)  # let the cluster's workers start before the clock does

        print(f"Entering {args.users:,} users into one Audience Sync step ...", flush=True)
        started = time.time()
        entered = 0
        while entered < args.users:
            size = min(args.entry_size, args.users - entered)
            if args.rate:
                size = min(size, max(1, int(args.rate / 10)))
            users = [{"external_id": f"u{i}", "email": f"user{i}@example.com"} for i in range(entered, entered + size)]
            services.users_enter(canvas=canvas, users=users)
            entered += size
            if args.rate:
                time.sleep(max(0.0, started + entered / args.rate - time.time()))
        entered_in = time.time() - started
        print(f"  entered in {entered_in:.1f} s ({args.users / entered_in:,.0f} users/s)", flush=True)

        deadline = time.time() + args.timeout
        while True:
            counts = dict(SyncRecord.objects.filter(step=step).values_list("state").annotate(n=Count("id")))
            if counts.get("synced", 0) + counts.get("errored", 0) >= args.users:
                break
            if time.time() > deadline:
                print(f"Timed out; states: {counts}")
                break
            time.sleep(0.2)
        finished = SyncRecord.objects.filter(step=step, state="synced").order_by("-synced_at").values_list(
            "synced_at", flat=True
        ).first()
        elapsed = (finished.timestamp() if finished else time.time()) - started
        watcher.stopped.set()

        log = requests.get(f"{control}/requests", timeout=30).json()
        log = log.get("requests", log) if isinstance(log, dict) else log
        list_calls = [r for r in log if "/customer_lists" in r["path"] and r["method"] in ("POST", "PATCH")]
        accepted = [r for r in list_calls if r["status"] == 200]
        throttled = sum(1 for r in log if r["status"] == 429)
        times = sorted(r["t"] for r in log if r["status"] != 429)
        max_window, j = 0, 0
        for i, t in enumerate(times):
            while times[j] <= t - 1.0:
                j += 1
            max_window = max(max_window, i - j + 1)

        if args.timeline:
            first = min(r["t"] for r in list_calls) if list_calls else started
            print(f"first request {first - started:.2f} s after the first entry")
            for r in list_calls:
                print(f"  {r['t'] - started:7.3f} {r['method']:5} {r['status']} {r['records']}")
        latencies = []
        for entered_at, synced_at in SyncRecord.objects.filter(step=step, state="synced").values_list(
            "entered_at", "synced_at"
        ).iterator(chunk_size=10_000):
            latencies.append((synced_at - entered_at).total_seconds())
        ideal = math.ceil(args.users / 1900)
        ceiling = 7 * 1900
        throughput = counts.get("synced", 0) / elapsed if elapsed else 0
        results = {
            "users": args.users,
            "database": "postgresql" if env["DATABASE_URL"].startswith("postgres") else "sqlite",
            "broker": "redis" if args.redis_url else "orm",
            "synced": counts.get("synced", 0),
            "errored": counts.get("errored", 0),
            "seconds": round(elapsed, 2),
            "users_per_second": round(throughput),
            "share_of_limit": round(throughput / ceiling, 3),
            "requests_sent": len(accepted),
            "requests_ideal": ideal,
            "requests_throttled_429": throttled,
            "max_requests_in_any_second": max_window,
            "latency_p50_s": round(percentile(latencies, 0.5), 2),
            "latency_p95_s": round(percentile(latencies, 0.95), 2),
            "sender_peak_rss_mb_per_process": round(watcher.peak_process_kb / 1024, 1),
            "sender_peak_pss_mb_total": round(watcher.peak_total_pss_kb / 1024, 1),
            "sender_peak_rss_mb_total": round(watcher.peak_total_rss_kb / 1024, 1),
            "entered_at": timezone.now().isoformat(),
        }
        print(
            f"""
users synced            {results['synced']:,} of {args.users:,} ({results['errored']} errored)
time                    {elapsed:.1f} s, entering included
throughput              {throughput:,.0f} users/s = {results['share_of_limit']:.0%} of the 13,300/s the limits allow
requests sent           {len(accepted)} (ideal ceil(N/1,900) = {ideal}); 429s: {throttled}
max requests in 1 s     {max_window} (limit 7)
entry-to-synced         p50 {results['latency_p50_s']} s, p95 {results['latency_p95_s']} s
sender peak memory      {results['sender_peak_rss_mb_per_process']} MB largest process (RSS); whole cluster {results['sender_peak_pss_mb_total']} MB (PSS), {results['sender_peak_rss_mb_total']} MB summing RSS
database / broker       {results['database']} / {results['broker']}"""
        )
        if args.json:
            print(json.dumps(results))
    finally:
        for process in reversed(processes):
            stop(process)


if __name__ == "__main__":
    main()
