"""A segment of N members kept in step by snapshots with churn: time to stage and commit, requests sent.

    .venv/bin/python bench/bench_segments.py                          # 1,000,000 members, 5% churn, SQLite
    .venv/bin/python bench/bench_segments.py --members 100000 --snapshots 2
    .venv/bin/python bench/bench_segments.py --database-url postgres://postgres@127.0.0.1:5432/bench_segments \\
        --redis-url redis://127.0.0.1:6379/1

On a fresh database, with the sandbox holding Pinterest's limits (1,900
records per request, 7 requests per second per token), it sends a first
snapshot of N members (pages of 10,000, as a partner would), commits it and
sends it; then, --snapshots - 1 times, a snapshot where a --churn share of
the members left and as many newcomers joined. For each it prints the time
to stage the members, the time to commit (find the changes and write them
as the step's records), the time until Pinterest had them all, and the
requests sent against the ideal ceil(removes / 1,900) + ceil(adds / 1,900).
Sending runs in this process (as `manage.py sync_now` does), so the
figures are the service's own work, not a cluster's scheduling.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from pathlib import Path

from stack import free_port, launched_canvas, prepare, start_sandbox, stop

PAGE = 10_000


def members(ids) -> list[dict]:
    return [{"external_id": f"m{i}", "email": f"member{i}@example.com"} for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--churn", type=float, default=0.05, help="share of members who leave (as many join)")
    parser.add_argument("--snapshots", type=int, default=3, help="the first, then churned ones")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default="", help="the shared rate limit in Redis, as a deployment has it")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-segments-"))
    sandbox_port = free_port()
    env = prepare(database_url=args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
                  sandbox_port=sandbox_port, extra_env={"REDIS_URL": args.redis_url, "SYNC_SENDER_AUTOSTART": "0"})
    import requests
    from django.conf import settings

    from audiences.sending.pump import send_due_now
    from audiences.services import segments

    sandbox = start_sandbox(env, sandbox_port)
    control = f"http://127.0.0.1:{sandbox_port}/_sandbox"
    rows = []
    try:
        _, _, step = launched_canvas(sandbox_port=sandbox_port, slug="segments")
        segment = segments.segment_create(step=step, name="Benchmark segment")
        current = list(range(args.members))
        next_id = args.members
        rng = random.Random(7)
        for number in range(args.snapshots):
            if number:
                leaving = int(len(current) * args.churn)
                rng.shuffle(current)
                current = current[leaving:] + list(range(next_id, next_id + leaving))
                next_id += leaving
            before = len(_list_requests(requests, control))
            started = time.perf_counter()
            snapshot = segments.snapshot_open(segment, source="api", actor="bench")
            for start in range(0, len(current), PAGE):
                segments.snapshot_add(snapshot, members(current[start:start + PAGE]))
            staged = time.perf_counter()
            snapshot = segments.snapshot_commit(snapshot, actor="bench", confirmed=True)
            committed = time.perf_counter()
            send_due_now()
            sent = time.perf_counter()
            made = _list_requests(requests, control)[before:]
            adds = snapshot.added + snapshot.changed
            per = settings.SYNC_BATCH_SIZE
            rows.append({
                "snapshot": number + 1, "members": snapshot.members, "added": adds, "removed": snapshot.removed,
                "stage_s": round(staged - started, 1), "commit_s": round(committed - staged, 1),
                "send_s": round(sent - committed, 1), "requests_sent": len(made),
                "requests_ideal": math.ceil(adds / per) + math.ceil(snapshot.removed / per),
                "records_sent": sum(r["records"] or 0 for r in made),
            })
            print(json.dumps(rows[-1]), flush=True)
        held = requests.get(f"{control}/customer_lists", timeout=30).json()["items"]
        in_list = sum(len(requests.get(f"{control}/customer_lists/{item['id']}/records", timeout=120).json()["records"])
                      for item in held)
    finally:
        stop(sandbox)
    database = "postgresql" if env["DATABASE_URL"].startswith("postgres") else "sqlite"
    print(f"\n{database}{' + redis' if args.redis_url else ''}: {args.members:,} members, {args.churn:.0%} churn")
    print("snapshot  members    added  removed  stage s  commit s  send s  requests (ideal)")
    for r in rows:
        print(f"{r['snapshot']:>8} {r['members']:>9,} {r['added']:>8,} {r['removed']:>8,} {r['stage_s']:>8} "
              f"{r['commit_s']:>9} {r['send_s']:>7} {r['requests_sent']:>6} ({r['requests_ideal']})")
    print(f"Pinterest's list holds {in_list:,} identifiers; the last snapshot has {rows[-1]['members']:,} members.")
    if args.json:
        print(json.dumps({"database": database, "redis": bool(args.redis_url), "rows": rows, "in_list": in_list}))


def _list_requests(requests, control: str) -> list[dict]:
    log = requests.get(f"{control}/requests", timeout=60).json()
    log = log.get("requests", log) if isinstance(log, dict) else log
    return [r for r in log if "/customer_lists" in r["path"] and r["method"] in ("POST", "PATCH")
            and r["status"] == 200]


if __name__ == "__main__":
    main()
