"""A file of users from upload to all synced: the import job's check and entry rates, and time to synced.

    .venv/bin/python bench/bench_imports.py                        # 1,000,000 rows, SQLite, ORM broker
    .venv/bin/python bench/bench_imports.py --rows 200000
    .venv/bin/python bench/bench_imports.py --database-url postgres://postgres@127.0.0.1:5432/bench_imports \\
        --redis-url redis://127.0.0.1:6379/1

It starts the sandbox with Pinterest's real limits and a django-q2 cluster
on a fresh database, writes a CSV of N users (external_id, email), stores it
as an upload does (audiences.services.imports.import_create: the file kept,
the job queued), and follows the job as its page does: the time to check
every row, the time to enter them all in batches, and the time until every
user is synced to the sandbox. It prints rows/s for each phase and the
cluster's peak memory (largest process).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_sync import MemoryWatcher
from stack import free_port, launched_canvas, prepare, start_sandbox, stop


def write_file(path: Path, rows: int) -> None:
    with path.open("w") as out:
        out.write("external_id,email\n")
        for i in range(rows):
            out.write(f"u{i},user{i}@example.com\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--workers", type=int, default=4, help="django-q2 workers")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-imports-"))
    sandbox_port = free_port()
    env = prepare(
        database_url=args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
        sandbox_port=sandbox_port,
        extra_env={"REDIS_URL": args.redis_url, "Q_WORKERS": str(args.workers),
                   "IMPORTS_ROOT": str(workdir / "imports")},
    )
    from django.db.models import Count

    from audiences.models import ImportJob, SyncRecord
    from audiences.services import imports

    csv_path = workdir / "users.csv"
    write_file(csv_path, args.rows)
    print(f"{csv_path}: {args.rows:,} rows, {csv_path.stat().st_size / 1e6:,.1f} MB", flush=True)

    processes: list[subprocess.Popen] = []
    try:
        processes.append(start_sandbox(env, sandbox_port))
        workspace, canvas, step = launched_canvas(sandbox_port=sandbox_port, slug="imports")
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=env, stdout=subprocess.DEVNULL)
        processes.append(cluster)
        watcher = MemoryWatcher(cluster.pid)
        watcher.start()
        time.sleep(3)  # the cluster's workers up before the clock starts

        started = time.time()
        job = imports.import_create(workspace=workspace, kind=ImportJob.Kind.ENTRIES, canvas=canvas,
                                    file=csv_path, file_name="users.csv", actor="bench")
        stored = time.time()
        checked_at = entered_at = None
        deadline = started + args.timeout
        while time.time() < deadline:
            job.refresh_from_db()
            if checked_at is None and job.state in ("entering", "done"):
                checked_at = time.time()
            if job.state == "done":
                entered_at = time.time()
                break
            if job.state in ("refused", "failed"):
                raise SystemExit(f"the job ended {job.state}: {job.message}")
            time.sleep(0.2)
        if entered_at is None:
            raise SystemExit(f"timed out: {job.state}, {job.rows_entered:,} entered")
        print(f"  stored in {stored - started:.1f} s, checked {checked_at - started:.1f} s, "
              f"entered {entered_at - started:.1f} s after the upload", flush=True)

        counts: dict = {}
        while time.time() < deadline:
            counts = dict(SyncRecord.objects.filter(step=step).values_list("state").annotate(n=Count("id")))
            if counts.get("synced", 0) + counts.get("errored", 0) >= args.rows:
                break
            time.sleep(0.5)
        synced_at = time.time()
        watcher.stopped.set()
        check_seconds = checked_at - stored
        enter_seconds = entered_at - checked_at
        results = {
            "rows": args.rows,
            "database": "postgresql" if env["DATABASE_URL"].startswith("postgres") else "sqlite",
            "broker": "redis" if args.redis_url else "orm",
            "store_seconds": round(stored - started, 1),
            "check_seconds": round(check_seconds, 1),
            "check_rows_per_second": round(args.rows / check_seconds),
            "enter_seconds": round(enter_seconds, 1),
            "enter_rows_per_second": round(args.rows / enter_seconds),
            "upload_to_all_synced_seconds": round(synced_at - started, 1),
            "synced": counts.get("synced", 0),
            "errored": counts.get("errored", 0),
            "requests_ideal": math.ceil(args.rows / 1900),
            "cluster_peak_rss_mb_per_process": round(watcher.peak_process_kb / 1024, 1),
        }
        print(f"""
rows                    {args.rows:,} ({results['synced']:,} synced, {results['errored']} errored)
check                   {check_seconds:.1f} s = {results['check_rows_per_second']:,} rows/s
enter                   {enter_seconds:.1f} s = {results['enter_rows_per_second']:,} rows/s
upload to all synced    {results['upload_to_all_synced_seconds']:.1f} s
largest worker (RSS)    {results['cluster_peak_rss_mb_per_process']} MB""")
        if args.json:
            print(json.dumps(results, indent=2))
    finally:
        for process in reversed(processes):
            stop(process)


if __name__ == "__main__":
    main()
