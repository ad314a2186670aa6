"""Starting and stopping the service's own processes (web, workers) from a test, as the README says to run them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def scaled_out_or_skip():
    """PostgreSQL and Redis, or the test says why it does not run."""
    import pytest

    if connection.vendor != "postgresql":
        pytest.skip("scale-out runs on PostgreSQL (DATABASE_URL=postgres://...)")
    if not settings.REDIS_URL:
        pytest.skip("scale-out runs with Redis as the broker (REDIS_URL=redis://...)")


def database_url() -> str:
    """The test database, for processes started by the test."""
    conf = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{conf['NAME']}"
    auth = quote(conf["USER"] or "")
    if conf.get("PASSWORD"):
        auth += ":" + quote(conf["PASSWORD"])
    return f"postgres://{auth}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(sandbox_url: str, **extra: object) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        PINTEREST_API_BASE_URL=sandbox_url,
        PINTEREST_CLIENT_ID=settings.PINTEREST_CLIENT_ID,
        PINTEREST_CLIENT_SECRET=settings.PINTEREST_CLIENT_SECRET,
        SYNC_SENDER_AUTOSTART="1",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Processes:
    """The processes a test started; `stop_all` ends each by its main pid (django-q2 #346)."""

    def __init__(self, env: dict, logs: Path):
        self.env = env
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}-{len(self.started)}.log", "wb")
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.started.append((name, process))
        return process

    def web(self, port: int, workers: int = 2) -> subprocess.Popen:
        return self.start("web", [str(Path(sys.executable).with_name("gunicorn")), "project.wsgi", "--workers",
                                  str(workers), "--bind", f"127.0.0.1:{port}"])

    def worker(self) -> subprocess.Popen:
        return self.start("worker", [sys.executable, "manage.py", "qcluster"])

    def manage(self, *args: str, timeout: float = 120) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True, timeout=timeout,
                       capture_output=True)

    def stop(self, process: subprocess.Popen, timeout: float = 20) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(process)

    def stop_all(self) -> None:
        for _, process in reversed(self.started):
            self.stop(process)
        for _, process in self.started:
            kill_group(process)  # any child left behind

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for path in sorted(self.logs.glob("*.log")):
            out.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def children(pid: int) -> list[int]:
    """The direct children of a process (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def wait_http(url: str, timeout: float = 60, ok=lambda r: r.status_code < 500) -> requests.Response:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = requests.get(url, timeout=5)
            if ok(last):
                return last
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {timeout} s: {last}")
