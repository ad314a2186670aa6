"""Months of history: what each page, list and endpoint costs at 200,000 and at 2,000,000 sync records.

    .venv/bin/python bench/bench_history.py                     # SQLite, 200,000 then 2,000,000 records
    .venv/bin/python bench/bench_history.py --records 20000,200000 --loads 3     # a quick look
    .venv/bin/python bench/bench_history.py --database-url postgres://postgres@127.0.0.1:5432/history

A fresh database: two workspaces (Acme with 20 canvases, Globex with 5),
each canvas one Audience Sync step, and users entered through the product
and sent to the local Pinterest sandbox (real send logs, ledger and counts).
History then grows through the product's own writers, spread over the last
60 days in time order: records (85% synced, 10% not synced, 3% suppressed,
2% errored) with their step counts, the ledger for the synced ones, and a
send-log row per 100 records (10% rejected, 10% held back). At each size every page is loaded (once to
warm up, then `--loads` times in rounds over every page; the median is printed) in process, through
the whole Django stack with DEBUG off: as a superuser and as an Acme
marketer (on PostgreSQL after a VACUUM ANALYZE, as autovacuum keeps a
deployment's tables). Then one retention run deletes everything
older than 30 days, and its rate is printed. Results last, as a table and as JSON.
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

STATES = ["synced"] * 85 + ["not_synced"] * 10 + ["suppressed"] * 3 + ["errored"] * 2
HISTORY_DAYS = 60
# Send logs: 80% accepted, 10% rejected, 10% held back without a call (one round of the audiences in
# 10 of each kind), so every audience has some of each, and even at the smaller size each filtered list,
# as superuser and as Acme's marketer, fills its first page (100 rows): the two sizes show the same work.
LOG_OUTCOMES = (
    [{"outcome": "ok", "http_status": 200}] * 4
    + [{"outcome": "failed", "http_status": 400, "error": "Pinterest refused the request (HTTP 400)."}]
    + [{"outcome": "ok", "http_status": 200}] * 4
    + [{"outcome": "retry", "http_status": None, "error": "Held: the ad account is not visible."}]
)


def seed_real(*, sandbox_port: int) -> dict:
    """Workspaces, canvases and a first few thousand users entered and sent through the product."""
    import requests

    from audiences import services
    from audiences.sending.pump import send_due_now
    from integrations.models import Membership
    from integrations.pinterest.client import TokenSet
    from integrations.services.connections import connection_connect
    from integrations.services.workspaces import user_create_marketer, workspace_create
    from django.contrib.auth import get_user_model

    control = f"http://127.0.0.1:{sandbox_port}/_sandbox"
    steps = {}
    for slug, canvases in (("acme", 20), ("globex", 5)):
        tokens = requests.post(f"{control}/users", json={"username": slug, "ad_accounts": 1}, timeout=5).json()["tokens"]
        workspace = workspace_create(slug=slug, name=slug.title())
        connection = connection_connect(workspace=workspace, tokens=TokenSet(
            tokens["access_token"], tokens["refresh_token"], tokens.get("expires_in"), None, ""))
        ad_account = connection.ad_accounts.first()
        steps[slug] = []
        for index in range(canvases):
            canvas = services.canvas_create(workspace=workspace, name=f"{slug.title()} canvas {index + 1}")
            audience = services.audience_create_draft(workspace=workspace, ad_account=ad_account,
                                                      name=f"{slug.title()} audience {index + 1}")
            step = services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience,
                                                      match_fields=("email",))
            services.canvas_launch(canvas=canvas)
            services.users_enter(canvas=canvas, users=[
                {"external_id": f"{slug}-{index}-real-{i}", "email": f"{slug}.{index}.{i}@example.com"}
                for i in range(150)
            ])
            steps[slug].append(step)
        if slug == "acme":
            marketer = user_create_marketer(workspace=workspace, username="marketer", password="bench-password-1",
                                            role=Membership.Role.MARKETER)
    send_due_now()
    User = get_user_model()
    admin = User.objects.create_superuser("admin", "admin@example.com", "bench-password-1")
    return {"steps": steps, "admin": admin, "marketer": marketer}


def grow(steps: list, *, have: int, target: int, start, end, external_prefix: str) -> None:
    """Add records up to `target` through the product's writers, their times rising from `start` to `end`."""
    from django.db import transaction

    from audiences.models import SendLog
    from audiences.sending import ledger, records
    from integrations.pinterest.identifiers import EMAIL

    chunk = 20_000
    total = target - have
    done = 0
    while done < total:
        n = min(chunk, total - done)
        now = start + (end - start) * (done / total)
        rows, added = [], {}
        for i in range(done, done + n):
            step = steps[i % len(steps)]
            state = STATES[i % len(STATES)]
            external_id = f"{external_prefix}{have + i}"
            email = f"{have + i:064x}"
            rows.append(records.row(step_id=step.pk, audience_id=step.audience_id, action=step.action,
                                    external_id=external_id, hashes=(email, "", ""), state=state, now=now))
            if state == "synced":
                added.setdefault(step.audience_id, []).append((external_id, EMAIL, email))
        logs = [
            SendLog(audience_id=steps[g % len(steps)].audience_id, operation="ADD", list_type=EMAIL,
                    pinterest_customer_list_id="1", size=100, duration_ms=180, limiter_wait_ms=20,
                    started_at=now, finished_at=now, **LOG_OUTCOMES[g // len(steps) % len(LOG_OUTCOMES)])
            for g in range((have + done) // 100, (have + done + n) // 100)
        ]
        with transaction.atomic():
            records.insert(rows, now=now)
            for audience_id, members in added.items():
                ledger.record(audience_id, added=members, removed=[], now=now)
            SendLog.objects.bulk_create(logs, batch_size=2000)
        done += n


def pages(seeded: dict, key: str) -> dict[str, str | tuple]:
    """Label -> URL (admin and endpoints) or ("api", path) for the API with the Acme key."""
    from django.urls import reverse

    from audiences.models import SyncRecord

    step = seeded["steps"]["acme"][3]
    old_id = SyncRecord.objects.filter(step=step).order_by("pk").values_list("external_id", flat=True).first()
    return {
        "Sync records": "/admin/audiences/syncrecord/",
        "Sync records, errored": "/admin/audiences/syncrecord/?state__exact=errored",
        "Sync records, synced": "/admin/audiences/syncrecord/?state__exact=synced",
        "Sync records, one step": f"/admin/audiences/syncrecord/?step={step.pk}",
        "Sync records, one step, errored": f"/admin/audiences/syncrecord/?step={step.pk}&state__exact=errored",
        "Sync records, one canvas": f"/admin/audiences/syncrecord/?canvas={step.canvas_id}",
        "Sync records, page 5": "/admin/audiences/syncrecord/?p=5",
        "Sync records, search an id": f"/admin/audiences/syncrecord/?q={old_id}",
        "Send logs": "/admin/audiences/sendlog/",
        "Send logs, failed": "/admin/audiences/sendlog/?outcome__exact=failed",
        "Send logs, held back": "/admin/audiences/sendlog/?reached=no",
        "Canvases": "/admin/audiences/canvas/",
        "Overview": reverse("admin:audiences_canvas_overview"),
        "Audiences": "/admin/audiences/audience/",
        "Audit events": "/admin/audiences/auditevent/",
        "Step analytics": f"/admin/audiences/canvas/step/{step.pk}/analytics/",
        "Admin home": "/admin/",
        "API canvases": ("api", "/api/v1/canvases/"),
        "API step metrics": ("api", f"/api/v1/steps/{step.pk}/metrics/"),
        "API step records, page 1": ("api", f"/api/v1/steps/{step.pk}/records/"),
        "API step records, page 5": ("api5", f"/api/v1/steps/{step.pk}/records/"),
        "API errored records": ("api", f"/api/v1/steps/{step.pk}/records/?state=errored"),
        "API audit events": ("api", "/api/v1/audit-events/"),
        "/healthz": ("plain", "/healthz"),
        "/metrics": ("plain", "/metrics"),
    }


def measure_all(seeded: dict, key: str, loads: int) -> dict[str, dict[str, float]]:
    """The median of `loads` loads of each page, in rounds (every page once, then again), after one warm-up each.

    Rounds spread whatever else the machine does over every page alike,
    rather than over the few pages measured at that moment.
    """
    from django.test import Client

    admin, marketer = Client(), Client()
    admin.force_login(seeded["admin"])
    marketer.force_login(seeded["marketer"])
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    plain = Client(REMOTE_ADDR="127.0.0.1")
    targets = []  # (label, who, client, url)
    for label, target in pages(seeded, key).items():
        if isinstance(target, tuple):
            kind, url = target
            if kind == "api5":
                for _ in range(4):
                    url = f"{target[1]}?cursor={api.get(url).json()['next_cursor']}"
                kind = "api"
            targets.append((label, kind, api if kind == "api" else plain, url))
        else:
            targets += [(label, "superuser", admin, target), (label, "marketer", marketer, target)]
    for _, _, client, url in targets:
        if client.get(url).status_code != 200:
            raise SystemExit(f"{url} answered {client.get(url).status_code}")
    timings: dict[tuple[str, str], list[float]] = {(label, who): [] for label, who, _, _ in targets}
    for _ in range(loads):
        for label, who, client, url in targets:
            started = time.perf_counter()
            client.get(url)
            timings[(label, who)].append(time.perf_counter() - started)
    results: dict[str, dict[str, float]] = {}
    for (label, who), values in timings.items():
        results.setdefault(label, {})[who] = statistics.median(values) * 1000
    return results


def analyze() -> None:
    """PostgreSQL: vacuumed and analysed after the bulk load, as autovacuum keeps a deployment's tables.

    Fresh statistics, and a visibility map that lets a page's index ranges be
    read from the index alone; right after a bulk load neither exists yet.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            # And the bulk load's pages written out now, not by a checkpoint in the middle of the loads.
            cursor.execute("CHECKPOINT")


def database_bytes() -> int:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return cursor.fetchone()[0]
    name = Path(connection.settings_dict["NAME"])
    return sum(p.stat().st_size for p in name.parent.glob(name.name + "*"))


def bytes_per_row() -> dict[str, float]:
    """Bytes each row of the big tables takes on disk, its indexes included (SQLite: dbstat; PostgreSQL: sizes)."""
    from django.db import connection

    from audiences.models import AudienceMember, SendLog, SyncRecord

    found = {}
    for label, model in (("sync_record", SyncRecord), ("ledger", AudienceMember), ("send_log", SendLog)):
        table = model._meta.db_table
        rows = model.objects.count() or 1
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            else:
                cursor.execute(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name = %s OR name IN "
                    "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s)", [table, table])
            found[label] = round((cursor.fetchone()[0] or 0) / rows)
    return found


def table_rows() -> dict[str, int]:
    from audiences.models import AudienceMember, SendLog, SyncRecord

    return {"sync_records": SyncRecord.objects.count(), "ledger": AudienceMember.objects.count(),
            "send_logs": SendLog.objects.count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--records", type=lambda v: [int(x) for x in v.split(",")], default=[200_000, 2_000_000])
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--no-retention", action="store_true", help="skip the retention run at the end")
    args = parser.parse_args()
    database_url = args.database_url or f"sqlite:///{Path('/tmp') / 'bench-history.sqlite3'}"
    if database_url.startswith("sqlite"):
        for leftover in Path("/tmp").glob("bench-history.sqlite3*"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    sandbox_port = free_port()
    env = prepare(database_url=database_url, sandbox_port=sandbox_port,
                  extra_env={**production_env(), "RETENTION_DAYS": "30"})
    sandbox = start_sandbox(env, sandbox_port)
    try:
        from django.utils import timezone

        from audiences import services
        from integrations.api_keys import api_key_create
        from integrations.models import Workspace

        seeded = seed_real(sandbox_port=sandbox_port)
        _, key = api_key_create(workspace=Workspace.objects.get(slug="acme"))
        steps = seeded["steps"]["acme"] * 4 + seeded["steps"]["globex"]  # Acme holds 80% of the history
        now = timezone.now()
        history_start = now - timedelta(days=HISTORY_DAYS)
        have, results = 0, {}
        for index, target in enumerate(args.records):
            # Each size's records follow the previous ones in time, so ids rise with time.
            share_start = history_start + (now - history_start) * (have / args.records[-1])
            share_end = history_start + (now - history_start) * (target / args.records[-1])
            started = time.perf_counter()
            grow(steps, have=have, target=target, start=share_start, end=share_end, external_prefix="u")
            seeded_seconds = time.perf_counter() - started
            analyze()
            have = target
            results[target] = {"pages": measure_all(seeded, key, args.loads), "rows": table_rows(),
                               "bytes_per_row": bytes_per_row(),
                               "database_mb": round(database_bytes() / 1e6, 1), "seed_s": round(seeded_seconds, 1)}
            print(f"{target:,} records: measured", flush=True)
        retention = None
        if not args.no_retention:
            before = table_rows()
            started = time.perf_counter()
            deleted = services.retention_purge(seconds=0)
            seconds = time.perf_counter() - started
            retention = {"deleted": deleted, "seconds": round(seconds, 1),
                         "rows_per_second": round(sum(deleted.values()) / seconds) if seconds else None,
                         "rows_before": before, "rows_after": table_rows(),
                         "database_mb_after": round(database_bytes() / 1e6, 1)}
    finally:
        stop(sandbox)
    sizes = args.records
    print()
    print(f"{'page':38} " + " ".join(f"{f'{s:,}':>22}" for s in sizes) + "      x")
    for label in results[sizes[0]]["pages"]:
        for who in results[sizes[0]]["pages"][label]:
            values = [results[s]["pages"][label][who] for s in sizes]
            ratio = values[-1] / values[0] if values[0] else float("nan")
            print(f"{label + ' (' + who + ')':38} " + " ".join(f"{v:20.1f}ms" for v in values) + f"  {ratio:5.2f}")
    for s in sizes:
        print(f"{s:,} records: rows {results[s]['rows']}, bytes per row {results[s]['bytes_per_row']}, "
              f"database {results[s]['database_mb']} MB, "
              f"seeded in {results[s]['seed_s']} s")
    if retention:
        print(f"retention: {retention}")
    print(json.dumps({"database": "postgresql" if database_url.startswith("postgres") else "sqlite",
                      "results": {str(k): v for k, v in results.items()}, "retention": retention}))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    main()
