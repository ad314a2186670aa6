"""How much CPU the sender spends per user: claim, request to Pinterest, outcome and ledger, in process.

    .venv/bin/python bench/sending.py                          # 100 batches behind 200,000 due users, SQLite
    .venv/bin/python bench/sending.py --batches 20 --backlog 40000
    .venv/bin/python bench/sending.py --database-url postgres://postgres@127.0.0.1:5432/bench

Enters --backlog users (email only) into a launched one-step canvas on a
fresh database without the sender running, then calls the sender's
`send_batch` --batches times in this process against the sandbox (which
enforces Pinterest's limits, so wall time is the limiter's). Prints the CPU
time of this process per user sent (the sandbox is another process), and
the time per user of the statements that took longest, so a statement
whose cost grows with the backlog stands out.
"""

from __future__ import annotations

import argparse
import resource
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path

from stack import free_port, launched_canvas, prepare, production_env, start_sandbox, stop


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backlog", type=int, default=200_000, help="users waiting before the first batch")
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-sending-"))
    sandbox_port = free_port()
    env = prepare(
        database_url=args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
        sandbox_port=sandbox_port,
        extra_env={"SYNC_SENDER_AUTOSTART": "0", **production_env()},
    )
    from django.db import connection

    from audiences import services
    from audiences.sending import delivery

    sandbox = start_sandbox(env, sandbox_port)
    try:
        _, canvas, step = launched_canvas(sandbox_port=sandbox_port, slug="bench-sending")
        for start in range(0, args.backlog, 10_000):
            services.users_enter(canvas=canvas, users=[
                {"external_id": f"u{i}", "email": f"user.{i}@example.com"}
                for i in range(start, min(start + 10_000, args.backlog))
            ])
        step.refresh_from_db()
        delivery.send_batch(step.audience_id, step.action)  # creates the list at Pinterest first

        spent: Counter = Counter()
        runs: Counter = Counter()

        def timed(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                statement = " ".join(sql.split()[:8])
                spent[statement] += time.perf_counter() - started
                runs[statement] += 1

        users, cpu, wall = 0, cpu_seconds(), time.perf_counter()
        with connection.execute_wrapper(timed):
            for _ in range(args.batches):
                users += delivery.send_batch(step.audience_id, step.action).handled
        cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    finally:
        stop(sandbox, signal.SIGINT)

    print(f"""
sent                 {users:,} users in {args.batches} batches, {args.backlog:,} due at the start ({connection.vendor})
CPU of this process  {cpu / users * 1e6:.1f} us per user ({cpu:.2f} s; wall {wall:.1f} s, paced by Pinterest's limits)
longest statements   (seconds per user, runs)""")
    for statement, seconds in spent.most_common(5):
        print(f"  {seconds / users * 1e6:7.2f} us  {runs[statement]:5d}  {statement}")


if __name__ == "__main__":
    main()
