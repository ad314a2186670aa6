"""CPU per user synced: the service's processes and the database server's, under the three sender loads.

    .venv/bin/python bench/bench_cpu.py tenants      # 8 workspaces x 20,000 users at once
    .venv/bin/python bench/bench_cpu.py lists        # one Pinterest user, 40 lists x 5 users/s for 60 s
    .venv/bin/python bench/bench_cpu.py burst        # one list, 200,000 users at once
    ... --database-url postgres://postgres@127.0.0.1:5432/cpu --redis-url redis://127.0.0.1:6379/5

Runs bench_scale.py's scenario (same options, same defaults) and reads the
CPU time (user + system, children included: utime + stime + cutime +
cstime of /proc/<pid>/stat) of the web (gunicorn and its workers) and of the
django-q2 cluster (sentinel, workers, pumps) from the moment the cluster has
started until the last user is counted; the sandbox and the entering client
are not counted. On PostgreSQL the server's CPU is read the same way, for
the backends connected to the benchmark's database (sampled every 0.2 s, so
a backend that ends is counted up to its last sample). CPU seconds are
steady on a busy machine where throughput is not: compare those first.
The last line is a Markdown table row. With CPU_PROFILE_DIR=DIR, py-spy
samples the web and the workers meanwhile (DIR/web.txt, DIR/workers.txt:
one line per stack with its sample count, for flame graph tools).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scale
from stack import descendants

TICKS = os.sysconf("SC_CLK_TCK")
# With CPU_PROFILE_DIR set, py-spy (pip install py-spy) samples the web and the workers into that folder.
PROFILE_DIR = os.environ.get("CPU_PROFILE_DIR", "")


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of one process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After "pid (comm)": state ppid ... utime is the 12th field, stime, cutime, cstime follow.
    return sum(int(value) for value in fields[11:15]) / TICKS


def tree_seconds(pid: int) -> float:
    """A process and every live descendant; those that ended are in their parents' cutime/cstime."""
    return sum(cpu_seconds(p) for p in [pid, *descendants(pid)])


class DatabaseServer:
    """CPU of the PostgreSQL backends serving one database, sampled so that ended backends still count."""

    def __init__(self, database_url: str):
        self.name = urlsplit(database_url).path.lstrip("/")
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def backends(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                # A backend's title: "postgres: [CLUSTER:] USER DATABASE HOST(PORT) STATE".
                parts = title.split()
                if len(parts) > 1 and parts[1].endswith(":"):
                    del parts[1]
                if len(parts) >= 3 and parts[0] == "postgres:" and parts[2] == self.name:
                    found.append(int(entry.name))
        return found

    def start(self) -> None:
        for pid in self.backends():  # those already open: count only what they use from now
            self.first[pid] = self.last[pid] = cpu_seconds(pid)
        self.thread.start()

    def _sample_until_stopped(self) -> None:
        while not self.stopping.wait(0.2):
            for pid in self.backends():
                seconds = cpu_seconds(pid)
                if seconds:
                    self.first.setdefault(pid, 0.0)
                    self.last[pid] = seconds

    def stop(self) -> float:
        self.stopping.set()
        self.thread.join()
        return sum(self.last[pid] - self.first.get(pid, 0.0) for pid in self.last)


def profile(role: str, pid: int) -> subprocess.Popen:
    """py-spy sampling a process and its children, every thread; stacks written as text when it stops."""
    output = Path(PROFILE_DIR) / f"{role}.txt"
    return subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--subprocesses", "--format", "raw",
                             "--rate", "50", "-o", str(output), "--pid", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Meter:
    """Attached to bench_scale.Stack: starts when the cluster has started, reads when the stack stops."""

    def __init__(self, database_url: str):
        self.started = None
        self.database = DatabaseServer(database_url) if database_url.startswith("postgres") else None
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    @staticmethod
    def roles(stack) -> dict[str, int]:
        pids = {}
        for process in stack.processes:
            command = " ".join(str(a) for a in process.args)
            if "gunicorn" in command:
                pids["web"] = process.pid
            elif "qcluster" in command:
                pids["workers"] = process.pid
        return pids

    def start(self, stack) -> None:
        self.before = {role: tree_seconds(pid) for role, pid in self.roles(stack).items()}
        self.profilers = [profile(role, pid) for role, pid in self.roles(stack).items()] if PROFILE_DIR else []
        if self.database:
            self.database.start()
        self.started = time.time()

    def read(self, stack) -> None:
        if self.started is None or self.used:
            return
        self.seconds = time.time() - self.started
        self.used = {role: tree_seconds(pid) - self.before.get(role, 0.0) for role, pid in self.roles(stack).items()}
        for profiler in self.profilers:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=120)
        if self.database:
            self.used["database"] = self.database.stop()


def attach(meter: Meter) -> None:
    start_cluster, stop = bench_scale.Stack.start_cluster, bench_scale.Stack.stop
    start_sandbox = bench_scale.start_sandbox

    def start_sandbox_patiently(*args, **kwargs):
        # On a machine busy with other work the sandbox may take longer than stack.py waits.
        for attempt in range(3):
            try:
                return start_sandbox(*args, **kwargs)
            except SystemExit:
                if attempt == 2:
                    raise
        return None

    bench_scale.start_sandbox = start_sandbox_patiently

    def start_cluster_metered(self):
        start_cluster(self)
        meter.start(self)

    def stop_metered(self):
        meter.read(self)
        stop(self)

    bench_scale.Stack.start_cluster = start_cluster_metered
    bench_scale.Stack.stop = stop_metered

    requests_log = bench_scale.Stack.requests_log

    def requests_log_noted(self):
        log = requests_log(self)
        writes = bench_scale.list_writes(log)
        meter.first_request = min((r["t"] for r in writes), default=None)
        return log

    bench_scale.Stack.requests_log = requests_log_noted


def summary(scenario: str, args, result: dict, meter: Meter) -> dict:
    users = result.get("synced") if scenario == "lists" else (
        args.tenants * args.users if scenario == "tenants" else result.get("synced"))
    users = users or 1
    service = meter.used.get("web", 0.0) + meter.used.get("workers", 0.0)
    first = getattr(meter, "first_request", None)
    out = {
        "users_counted": users,
        "metered_seconds": round(meter.seconds, 2),
        "cpu_web_s": round(meter.used.get("web", 0.0), 2),
        "cpu_workers_s": round(meter.used.get("workers", 0.0), 2),
        "cpu_service_us_per_user": round(service / users * 1e6, 1),
        "cpu_service_cores": round(service / meter.seconds, 3),
        "first_request_after_s": round(first - meter.started, 2) if first else None,
    }
    if "database" in meter.used:
        out["cpu_database_s"] = round(meter.used["database"], 2)
        out["cpu_database_us_per_user"] = round(meter.used["database"] / users * 1e6, 1)
    return out


def markdown_row(scenario: str, result: dict, cpu: dict) -> str:
    database = "PostgreSQL + Redis" if result["database"] == "postgresql" else "SQLite"
    if scenario == "lists":
        load = f"{result['lists']} lists x {result['users_per_second_per_list']}/s"
        speed = f"p95 {result['latency_p95_s']} s"
    else:
        load = f"{result['tenants']} x {result['users_per_tenant']:,}" if scenario == "tenants" else f"1 x {result['users']:,}"
        speed = f"{result['users_per_second']:,} users/s"
        if scenario == "tenants":
            speed += f", fairness {result['fastest_over_slowest']}"
    database_us = cpu.get("cpu_database_us_per_user", "–")
    return (f"| {load} | {database} | {speed} | {cpu['first_request_after_s']} s | "
            f"{cpu['cpu_service_us_per_user']} us (web {cpu['cpu_web_s']} s, workers {cpu['cpu_workers_s']} s) | "
            f"{database_us} us | {cpu['cpu_service_cores']} |")


def main() -> None:
    scenario = sys.argv[1] if len(sys.argv) > 1 else ""
    if scenario not in ("tenants", "lists", "burst"):
        raise SystemExit(__doc__)
    database_url = ""
    for index, arg in enumerate(sys.argv):
        if arg == "--database-url" and index + 1 < len(sys.argv):
            database_url = sys.argv[index + 1]
        elif arg.startswith("--database-url="):
            database_url = arg.split("=", 1)[1]
    meter = Meter(database_url)
    attach(meter)
    captured = {}

    def capturing(function):
        def run(args):
            captured["args"], captured["result"] = args, function(args)
            return captured["result"]
        return run

    for name in ("run_tenants", "run_lists", "run_burst"):
        setattr(bench_scale, name, capturing(getattr(bench_scale, name)))
    bench_scale.main()  # prints bench_scale's own figures
    result = dict(captured["result"], database="postgresql" if database_url.startswith("postgres") else "sqlite")
    cpu = summary(scenario, captured["args"], result, meter)
    for name, value in cpu.items():
        print(f"{name:40} {value}")
    print()
    print("| load | database | throughput | first request | service CPU per user | database CPU per user | service cores |")
    print("|---|---|---|---|---|---|---|")
    print(markdown_row(scenario, result, cpu))

if __name__ == "__main__":
    main()
