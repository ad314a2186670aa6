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
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DATABASE_URL": args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
            "SANDBOX_PORT": str(sandbox_port),
            "PINTEREST_API_BASE_URL": f"http://127.0.0.1:{sandbox_port}/v5",
            "PINTEREST_OAUTH_AUTHORIZE_URL": f"http://127.0.0.1:{sandbox_port}/oauth/",
            "SYNC_SENDER_AUTOSTART": "0",
            "API_THROTTLE_RATE": "",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    python = sys.executable
    subprocess.run([python, "manage.py", "flush", "--noinput"], env=env, capture_output=True)
    subprocess.run([python, "manage.py", "migrate", "--noinput"], env=env, check=True, capture_output=True)

    import django

    django.setup()
    import requests
    from rest_framework.test import APIClient

    from audiences import services
    from audiences.models import SyncRecord
    from integrations.api_keys import api_key_create
    from integrations.pinterest.client import TokenSet
    from integrations.services import connection_connect, workspace_create

    sandbox = subprocess.Popen([python, "manage.py", "pinterest_sandbox", "--port", str(sandbox_port)], env=env,
                               stdout=subprocess.DEVNULL)
    try:
        control = f"http://127.0.0.1:{sandbox_port}/_sandbox"
        for _ in range(100):
            try:
                if requests.get(f"{control}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        tokens = requests.post(f"{control}/users", json={"username": "bench", "ad_accounts": 1}, timeout=5).json()[
            "tokens"]
        workspace = workspace_create(slug=f"bench-entries-{int(time.time())}")
        connection = connection_connect(
            workspace=workspace,
            tokens=TokenSet(tokens["access_token"], tokens["refresh_token"], tokens.get("expires_in"), None, ""),
        )
        ad_account = connection.ad_accounts.first()
        canvas = services.canvas_create(workspace=workspace, name="Benchmark")
        audience = services.audience_create_draft(workspace=workspace, ad_account=ad_account, name="Benchmark")
        services.step_add_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience,
                                        match_idfa=args.identifiers == "all",
                                        match_android_aid=args.identifiers == "all")
        services.canvas_launch(canvas=canvas)
    finally:
        # Pinterest is only needed to launch the canvas; entering users never calls it.
        sandbox.send_signal(signal.SIGINT)
        try:
            sandbox.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sandbox.kill()
            sandbox.wait()

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
