"""A soak: the whole service at a steady rate for an hour, with retention expiring rows during the run.

    .venv/bin/python bench/soak.py                         # 60 minutes, 2,000 users/s, SQLite
    .venv/bin/python bench/soak.py --minutes 10            # a quick look
    .venv/bin/python bench/soak.py --database-url postgres://postgres@127.0.0.1:5432/soak --redis-url redis://127.0.0.1:6379/2

On a fresh database: the sandbox with Pinterest's limits, the web app under
gunicorn (2 processes) with DEBUG off, and a django-q2 cluster (3 workers).
`--workspaces` workspaces, each its own Pinterest user, with `--lists`
audiences each, each audience with a journey that adds users and one that
removes them; every second the client enters `--rate` users through
`POST /api/v1/canvases/{id}/entries/`, half joining and half leaving, from a
population of `--population` users per audience that cycles (added, removed
half a cycle later, added again), so every entry is sent to Pinterest and
the ledger stays the size of the population.
Retention keeps `--retention-minutes` of history (RETENTION_DAYS in
minutes), so rows expire from the run's fifth minute or so on.

Each minute it prints (and writes to `--table-file` as Markdown): users
entered, p95 and p50 from entering to Pinterest over that minute (from the
service's own histogram in /metrics, interpolated within its bucket), CPU
per user entered (user + system time of the web processes, the workers and,
on PostgreSQL, the database server's processes) and, on PostgreSQL, the
write-ahead log written per user, the
memory of the web processes, the workers and the largest process, the
database's size, rows per table, what retention deleted and the age of the
oldest finished record it kept, and errors (failed entry calls, seconds
skipped because the previous second's calls were still running, errored
users, 429s and 5xx from Pinterest). Flat is the goal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import Stack  # noqa: E402
from stack import descendants  # noqa: E402


def canvases(stack: Stack, *, workspaces: int, lists: int) -> list[tuple[int, int, str]]:
    """(add canvas id, remove canvas id, API key) for `lists` audiences in each of `workspaces` workspaces.

    Each audience has a journey that adds users and one that removes them (leavers), so a user population
    cycles through it: added, removed half a cycle later, added again. Every entry is sent to Pinterest and the
    ledger stays the size of the population, as in a deployment whose customers come and go.
    """
    import requests

    from audiences import services
    from integrations.api_keys import api_key_create
    from integrations.pinterest.client import TokenSet
    from integrations.services.connections import connection_connect
    from integrations.services.workspaces import workspace_create

    found = []
    for w in range(workspaces):
        tokens = requests.post(f"{stack.control}/users", json={"username": f"soak{w}", "ad_accounts": 1},
                               timeout=5).json()["tokens"]
        workspace = workspace_create(slug=f"soak-{w}", name=f"Soak {w}")
        connection = connection_connect(workspace=workspace, tokens=TokenSet(
            tokens["access_token"], tokens["refresh_token"], tokens.get("expires_in"), None, ""))
        ad_account = connection.ad_accounts.first()
        _, key = api_key_create(workspace=workspace, name="soak")
        for c in range(lists):
            audience = services.audience_create_draft(workspace=workspace, ad_account=ad_account,
                                                      name=f"Soak audience {w}.{c}")
            pair = []
            for action in ("add", "remove"):
                canvas = services.canvas_create(workspace=workspace, name=f"Soak {w}.{c} {action}")
                services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience,
                                                   action=action)
                services.canvas_launch(canvas=canvas)
                pair.append(canvas.pk)
            found.append((pair[0], pair[1], key))
    return found


def rss_mb(pids: list[int]) -> list[float]:
    sizes = []
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return sizes


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes and of their children that ended (Linux /proc).

    Workers that django-q2 replaces and PostgreSQL backends that close are
    counted through their parents (cutime, cstime) once reaped.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
        except (OSError, IndexError, ValueError):
            continue
    return total / ticks


def postgres_pids() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def histogram(metrics_text: str) -> dict[float, float]:
    """Cumulative count per upper bound of the entry-to-Pinterest histogram, over every step."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "audience_sync_entry_to_pinterest_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0) + sample.value
    return buckets


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The q-quantile of what the histogram gained between two scrapes (linear within a bucket, as Prometheus)."""
    bounds = sorted(after)
    gained = [after[b] - before.get(b, 0) for b in bounds]
    total = gained[-1] if gained else 0
    if total <= 0:
        return None
    rank, lower, previous = q * total, 0.0, 0.0
    for bound, cumulative in zip(bounds, gained, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - previous
            return lower + (bound - lower) * ((rank - previous) / inside if inside else 1)
        lower, previous = bound, cumulative
    return lower


def pinterest_errors(metrics_text: str) -> int:
    from prometheus_client.parser import text_string_to_metric_families

    errors = 0
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "audience_sync_pinterest_requests":
            for sample in family.samples:
                status = sample.labels.get("status", "")
                if sample.name.endswith("_total") and (status == "429" or status.startswith("5")):
                    errors += sample.value
    return int(errors)


def database_mb() -> float:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0] / 1e6
    name = Path(connection.settings_dict["NAME"])
    return sum(p.stat().st_size for p in name.parent.glob(name.name + "*") if p.is_file()) / 1e6


def wal_bytes() -> int:
    """PostgreSQL's write-ahead log position (0 on SQLite): what was written, replicas and backups included."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")
        return int(cursor.fetchone()[0])


def rows() -> dict[str, int]:
    from audiences.models import AudienceMember, SendLog, StepCount, SyncRecord

    return {"records": SyncRecord.objects.count(), "ledger": AudienceMember.objects.count(),
            "send_logs": SendLog.objects.count(),
            "errored": sum(StepCount.objects.filter(state="errored").values_list("n", flat=True))}


def retention_state() -> dict:
    from django.utils import timezone

    from audiences.models import RetentionProgress

    progress = RetentionProgress.objects.filter(kind="sync_records").first()
    if progress is None:
        return {"deleted": 0, "oldest_min": None}
    oldest = (timezone.now() - progress.oldest_kept_at).total_seconds() / 60 if progress.oldest_kept_at else None
    return {"deleted": progress.deleted_total, "oldest_min": oldest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--rate", type=int, default=2000, help="users entered per second, all canvases together")
    parser.add_argument("--workspaces", type=int, default=4)
    parser.add_argument("--lists", type=int, default=3, help="audiences per workspace (each an add and a remove canvas)")
    parser.add_argument("--population", type=int, default=60_000, help="users per audience, cycling in and out")
    parser.add_argument("--retention-minutes", type=float, default=5.0)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--table-file", default="", help="write the per-minute table here (Markdown), e.g. "
                        "bench/soak-results/soak-sqlite-60min.md")
    args = parser.parse_args()
    args.log_file, args.log_level = "", "WARNING"
    os.environ["RETENTION_DAYS"] = str(args.retention_minutes / 1440)
    stack = Stack(args)
    stack.start()
    targets = canvases(stack, workspaces=args.workspaces, lists=args.lists)
    import requests

    from django.db import close_old_connections

    per_call = max(1, args.rate // (2 * len(targets)))  # users per entry call; two calls per audience a second
    failures, entered, skipped, stop_at = [0], [0], [0], time.monotonic() + args.minutes * 60
    local = threading.local()

    def call(canvas_id: int, key: str, audience_index: int, first: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        users = []
        for i in range(first, first + per_call):
            n = i % args.population
            users.append({"external_id": f"a{audience_index}-{n}", "email": f"a{audience_index}.{n}@example.com"})
        try:
            response = session.post(f"{stack.api}/canvases/{canvas_id}/entries/", json={"users": users},
                                    headers={"Authorization": f"Bearer {key}"}, timeout=30)
            if response.status_code == 202:
                entered[0] += per_call
            else:
                failures[0] += 1
        except requests.RequestException:
            failures[0] += 1

    in_flight = [0]
    lock = threading.Lock()

    def counted(*arguments) -> None:
        try:
            call(*arguments)
        finally:
            with lock:
                in_flight[0] -= 1

    def enter_steadily() -> None:
        second = 0
        with ThreadPoolExecutor(max_workers=2 * len(targets)) as pool:
            while time.monotonic() < stop_at:
                tick = time.monotonic()
                # A steady rate, not a backlog: a second whose calls cannot start (the last ones still
                # running) is skipped and counted, so a slow service shows as a lower rate, not a burst later.
                if in_flight[0] < 2 * len(targets):
                    for index, (add_canvas, remove_canvas, key) in enumerate(targets):
                        first = second * per_call
                        with lock:
                            in_flight[0] += 2
                        pool.submit(counted, add_canvas, key, index, first)
                        pool.submit(counted, remove_canvas, key, index, first - args.population // 2)
                else:
                    skipped[0] += 1
                second += 1
                time.sleep(max(0.0, tick + 1 - time.monotonic()))

    metrics_url = f"http://127.0.0.1:{stack.web_port}/metrics"
    table: list[dict] = []
    header = ("| min | entered/s | p50 s | p95 s | CPU us/user web | workers | database server | WAL B/user | web MB | workers MB "
              "| largest MB | database MB | records | ledger | send logs | retention deleted | oldest kept (min) "
              "| failed calls | seconds skipped | errored | 429/5xx |")
    print(header, flush=True)
    print("|---" * (header.count("|") - 1) + "|", flush=True)
    feeder = threading.Thread(target=enter_steadily, daemon=True)
    feeder.start()
    web_pid = stack.processes[1].pid
    cluster_pid = stack.processes[2].pid
    previous_hist, previous_entered = histogram(requests.get(metrics_url, timeout=30).text), 0

    def cpu_now() -> dict[str, float]:
        return {"web": cpu_seconds([web_pid, *descendants(web_pid)]),
                "workers": cpu_seconds([cluster_pid, *descendants(cluster_pid)]),
                "database": cpu_seconds(postgres_pids())}

    previous_cpu, previous_wal = cpu_now(), wal_bytes()
    try:
        for minute in range(1, args.minutes + 1):
            time.sleep(max(0.0, (stop_at - args.minutes * 60 + minute * 60) - time.monotonic()))
            close_old_connections()
            text = requests.get(metrics_url, timeout=60).text
            current = histogram(text)
            web = rss_mb([web_pid, *descendants(web_pid)])
            workers = rss_mb([cluster_pid, *descendants(cluster_pid)])
            counts, retention = rows(), retention_state()
            p50, p95 = quantile(previous_hist, current, 0.5), quantile(previous_hist, current, 0.95)
            cpu = cpu_now()
            users_this_minute = max(entered[0] - previous_entered, 1)
            per_user = {k: round((cpu[k] - previous_cpu[k]) * 1e6 / users_this_minute) for k in cpu}
            previous_cpu = cpu
            wal = wal_bytes()
            wal_per_user, previous_wal = round((wal - previous_wal) / users_this_minute), wal
            row = {"minute": minute, "entered_per_s": round((entered[0] - previous_entered) / 60),
                   "p50_s": p50, "p95_s": p95, "cpu_us_per_user": per_user, "wal_bytes_per_user": wal_per_user, "web_mb": round(sum(web)), "workers_mb": round(sum(workers)),
                   "largest_mb": round(max(web + workers)), "database_mb": round(database_mb(), 1),
                   **counts, "retention_deleted": retention["deleted"], "oldest_kept_min": retention["oldest_min"],
                   "failed_calls": failures[0], "seconds_skipped": skipped[0], "pinterest_429_5xx": pinterest_errors(text)}
            table.append(row)
            previous_hist, previous_entered = current, entered[0]
            print(f"| {minute} | {row['entered_per_s']:,} | {p50 or 0:.1f} | {p95 or 0:.1f} | "
                  f"{per_user['web']} | {per_user['workers']} | {per_user['database'] or '–'} | "
                  f"{wal_per_user or '–'} | {row['web_mb']} | "
                  f"{row['workers_mb']} | {row['largest_mb']} | {row['database_mb']:,} | {row['records']:,} | "
                  f"{row['ledger']:,} | {row['send_logs']:,} | {row['retention_deleted']:,} | "
                  f"{(row['oldest_kept_min'] or 0):.1f} | {row['failed_calls']} | {row['seconds_skipped']} | "
                  f"{row['errored']} | "
                  f"{row['pinterest_429_5xx']} |", flush=True)
    finally:
        stack.stop()
    database = "postgresql" if (args.database_url or "").startswith("postgres") else "sqlite"
    if args.table_file:
        lines = [f"Soak on {database}{' + Redis' if args.redis_url else ''}: {args.rate:,} users/s into "
                 f"{len(targets)} audiences ({2 * len(targets)} canvases, one adding and one removing each) of "
                 f"{args.workspaces} workspaces for {args.minutes} minutes, retention "
                 f"{args.retention_minutes:g} minutes (`bench/soak.py`).", "", header,
                 "|---" * (header.count("|") - 1) + "|"]
        lines += [f"| {r['minute']} | {r['entered_per_s']:,} | {r['p50_s'] or 0:.1f} | {r['p95_s'] or 0:.1f} | "
                  f"{r['cpu_us_per_user']['web']} | {r['cpu_us_per_user']['workers']} | "
                  f"{r['cpu_us_per_user']['database'] or '–'} | {r['wal_bytes_per_user'] or '–'} | {r['web_mb']} | {r['workers_mb']} | {r['largest_mb']} | {r['database_mb']:,} | {r['records']:,} | "
                  f"{r['ledger']:,} | {r['send_logs']:,} | {r['retention_deleted']:,} | "
                  f"{(r['oldest_kept_min'] or 0):.1f} | {r['failed_calls']} | {r['seconds_skipped']} | "
                  f"{r['errored']} | "
                  f"{r['pinterest_429_5xx']} |" for r in table]
        Path(args.table_file).write_text("\n".join(lines) + "\n")
    print(json.dumps({"database": database, "broker": "redis" if args.redis_url else "orm", "minutes": table}))


if __name__ == "__main__":
    main()
