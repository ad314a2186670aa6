"""The marketer's overview at 200 canvases and 2,000,000 sync records: its response time, median of several loads.

    .venv/bin/python bench/bench_overview.py                          # SQLite: 200 canvases, 2,000,000 records
    .venv/bin/python bench/bench_overview.py --records 200000 --loads 3          # a quick look
    .venv/bin/python bench/bench_overview.py --database-url postgres://postgres@127.0.0.1:5432/overview

A fresh database: one workspace with `--canvases` live canvases, each with
an Audience Sync step and its own audience, a few users per canvas entered
and sent to the local Pinterest sandbox through the product (real send
logs, ledger and counts), the audiences read on Pinterest, then history
grown to `--records` through the product's own writers over 60 days
(bench_history's `grow`: records with their step counts and hours, the
ledger, a send-log row per 100 records). The overview is then loaded through
the whole Django stack with DEBUG off as the workspace's marketer (once to
warm up, then `--loads` times) and the median printed, with the number of
SQL queries one load runs. The overview reads counts only, so neither
figure should move with the number of records.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import free_port, prepare, production_env, start_sandbox, stop  # noqa: E402

OVERVIEW = "/admin/audiences/canvas/overview/"


def seed(*, sandbox_port: int, canvases: int) -> dict:
    """A workspace, its marketer, and `canvases` live canvases with a few users each sent through the product."""
    import requests

    from audiences import services
    from audiences.sending.pump import send_due_now
    from integrations.models import Membership
    from integrations.pinterest.client import TokenSet
    from integrations.services.connections import connection_connect
    from integrations.services.workspaces import user_create_marketer, workspace_create

    control = f"http://127.0.0.1:{sandbox_port}/_sandbox"
    tokens = requests.post(f"{control}/users", json={"username": "acme", "ad_accounts": 1}, timeout=5).json()["tokens"]
    workspace = workspace_create(slug="acme", name="Acme")
    connection = connection_connect(workspace=workspace, tokens=TokenSet(
        tokens["access_token"], tokens["refresh_token"], tokens.get("expires_in"), None, ""))
    ad_account = connection.ad_accounts.first()
    steps = []
    for index in range(canvases):
        canvas = services.canvas_create(workspace=workspace, name=f"Canvas {index + 1:03}")
        audience = services.audience_create_draft(workspace=workspace, ad_account=ad_account,
                                                  name=f"Audience {index + 1:03}")
        step = services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience,
                                                  match_fields=("email",))
        services.canvas_launch(canvas=canvas)
        services.users_enter(canvas=canvas, users=[
            {"external_id": f"real-{index}-{i}", "email": f"real.{index}.{i}@example.com"} for i in range(5)])
        steps.append(step)
    send_due_now()
    services.audiences_sweep(force=True)  # each audience read once: a size reading per audience
    marketer = user_create_marketer(workspace=workspace, username="marketer", password="bench-password-1",
                                    role=Membership.Role.MARKETER)
    return {"steps": steps, "marketer": marketer}


def measure(client, loads: int) -> tuple[float, int]:
    """Median milliseconds of `loads` loads of the overview, and the SQL queries one load runs."""
    from django.db import connection

    response = client.get(OVERVIEW)
    if response.status_code != 200:
        raise SystemExit(f"{OVERVIEW} answered {response.status_code}")
    executed = []

    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    # Counted in the execution path: the request's own start resets Django's query log.
    with connection.execute_wrapper(count):
        client.get(OVERVIEW)
    timings = []
    for _ in range(loads):
        started = time.perf_counter()
        client.get(OVERVIEW)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000, len(executed)


def measure_existing(args) -> None:
    """Load the overview on a database an earlier run seeded (its marketer and records kept)."""
    import django

    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{Path('/tmp') / 'bench-overview.sqlite3'}"
    os.environ.update(production_env())
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from audiences.models import Canvas, SyncRecord

    client = Client()
    client.force_login(get_user_model().objects.get(username="marketer"))
    ms, queries = measure(client, args.loads)
    records, canvases = SyncRecord.objects.count(), Canvas.objects.count()
    print(f"{canvases} canvases, {records:,} records: {ms:.1f} ms (median of {args.loads}), {queries} queries")
    print(json.dumps({"canvases": canvases, "records": records, "median_ms": round(ms, 1), "queries": queries}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--canvases", type=int, default=200)
    parser.add_argument("--records", type=lambda v: [int(x) for x in v.split(",")], default=[2_000_000])
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--measure-only", action="store_true",
                        help="measure the overview on the database a previous run left (no seeding)")
    args = parser.parse_args()
    if args.measure_only:
        measure_existing(args)
        return
    database_url = args.database_url or f"sqlite:///{Path('/tmp') / 'bench-overview.sqlite3'}"
    if database_url.startswith("sqlite"):
        for leftover in Path("/tmp").glob("bench-overview.sqlite3*"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    sandbox_port = free_port()
    env = prepare(database_url=database_url, sandbox_port=sandbox_port, extra_env=production_env())
    sandbox = start_sandbox(env, sandbox_port)
    results = {}
    try:
        from django.test import Client
        from django.utils import timezone

        from bench_history import analyze, grow

        seeded = seed(sandbox_port=sandbox_port, canvases=args.canvases)
        client = Client()
        client.force_login(seeded["marketer"])
        ms, queries = measure(client, args.loads)
        results[0] = {"median_ms": round(ms, 1), "queries": queries}
        print(f"{args.canvases} canvases, no history: {ms:.1f} ms, {queries} queries", flush=True)
        now = timezone.now()
        start = now - timedelta(days=60)
        have = 0
        for target in args.records:
            started = time.perf_counter()
            grow(seeded["steps"], have=have, target=target,
                 start=start + (now - start) * (have / args.records[-1]),
                 end=start + (now - start) * (target / args.records[-1]), external_prefix="u")
            seeded_s = time.perf_counter() - started
            analyze()
            have = target
            ms, queries = measure(client, args.loads)
            results[target] = {"median_ms": round(ms, 1), "queries": queries, "seed_s": round(seeded_s, 1)}
            print(f"{args.canvases} canvases, {target:,} records: {ms:.1f} ms (median of {args.loads}), "
                  f"{queries} queries; history seeded in {seeded_s:.0f} s", flush=True)
    finally:
        stop(sandbox)
    print(json.dumps({"database": "postgresql" if database_url.startswith("postgres") else "sqlite",
                      "canvases": args.canvases, "results": {str(k): v for k, v in results.items()}}))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    main()
