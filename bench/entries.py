"""How fast partners can enter users through the API: users per second for POST .../entries/.

    .venv/bin/python bench/entries.py                          # 20 calls of 10,000 users, SQLite
    .venv/bin/python bench/entries.py --calls 50 --identifiers all
    .venv/bin/python bench/entries.py --database-url postgres://postgres@127.0.0.1:5432/bench

Each call goes through the whole API in process (WSGI handler, API key,
JSON parsing, validation, hashing, the INSERTs and the Idempotency-Key
record), into one launched canvas with one Audience Sync step, on a fresh
database. The sender is not started, so only entering is measured. Prints
users/s over all calls and the p50/p95 time of one call.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import tempfile
import time
from pathlib import Path

from stack import production_env, free_port, launched_canvas, prepare, start_sandbox, stop

def users(call: int, size: int, identifiers: str) -> list[dict]:
    batch = []
    for i in range(size):
        user = {"external_id": f"c{call}-u{i}", "email": f"User{call}.{i}@Example.com"}
        if identifiers == "all":
            user["ios_idfa"] = f"{i:08x}-aaaa-bbbb-cccc-{call:012x}"
            user["android_aid"] = f"{i:08X}-AAAA-BBBB-CCCC-{call:012X}"
        batch.append(user)
    return batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--size", type=int, default=10_000, help="users per call (at most 10,000)")
    parser.add_argument("--identifiers", choices=["email", "all"], default="email",
                        help="email only, or email + IDFA + Android id per user")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-entries-"))
    sandbox_port = free_port()
    env = prepare(
        database_url=args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
        sandbox_port=sandbox_port,
        extra_env={"SYNC_SENDER_AUTOSTART": "0", "API_THROTTLE_RATE": "", **production_env()},
    )
    from rest_framework.test import APIClient

    from audiences.models import SyncRecord
    from integrations.api_keys import api_key_create

    sandbox = start_sandbox(env, sandbox_port)
    try:
        every = args.identifiers == "all"
        workspace, canvas, _ = launched_canvas(
            sandbox_port=sandbox_port, slug="bench-entries",
            match_fields=("email", "ios_idfa", "android_aid") if every else ("email",),
        )
    finally:
        # Pinterest is only needed to launch the canvas; entering users never calls it.
        stop(sandbox, signal.SIGINT)

    _, key = api_key_create(workspace=workspace, name="benchmark")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/v1/canvases/{canvas.pk}/entries/"
    bodies = [json.dumps({"users": users(call, args.size, args.identifiers)}) for call in range(args.calls)]

    durations = []
    for call, body in enumerate(bodies):
        started = time.perf_counter()
        response = client.generic("POST", url, body, content_type="application/json",
                                  HTTP_IDEMPOTENCY_KEY=f"bench-{call}")
        durations.append(time.perf_counter() - started)
        if response.status_code != 202:
            raise SystemExit(f"call {call}: HTTP {response.status_code} {response.content[:500]!r}")
    total = args.calls * args.size
    stored = SyncRecord.objects.filter(step__canvas=canvas).count()
    elapsed = sum(durations)
    durations.sort()
    results = {
        "database": "postgresql" if env["DATABASE_URL"].startswith("postgres") else "sqlite",
        "calls": args.calls,
        "users_per_call": args.size,
        "identifiers": args.identifiers,
        "users": total,
        "stored": stored,
        "seconds": round(elapsed, 2),
        "users_per_second": round(total / elapsed),
        "call_p50_s": round(statistics.median(durations), 3),
        "call_p95_s": round(durations[max(0, int(len(durations) * 0.95) - 1)], 3),
        "body_mb": round(len(bodies[0]) / 1e6, 2),
    }
    print(
        f"""
users entered        {stored:,} of {total:,} in {args.calls} calls of {args.size:,} ({args.identifiers})
throughput           {results['users_per_second']:,} users/s through the API
one call             p50 {results['call_p50_s']} s, p95 {results['call_p95_s']} s ({results['body_mb']} MB body)
database             {results['database']}"""
    )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
