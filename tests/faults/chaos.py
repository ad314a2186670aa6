"""The parts around the service, started by a fault test so that it may break them: PostgreSQL, Redis and
Pinterest (the sandbox)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from integrations.pinterest.sandbox import SandboxServer
from integrations.pinterest.sandbox.server import SandboxHTTPServer


class OwnRedis:
    """A redis-server of the test's own (no persistence), so restarting it touches nobody else's."""

    def __init__(self, port: int, logs: Path):
        self.port = port
        self.logs = logs
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=open(self.logs / "redis.log", "ab"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=1).ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def restart(self, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl, postgres), or None."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


class OwnPostgres:
    """A PostgreSQL server of the test's own (initdb in a temporary folder), so restarting it touches nobody else's.

    PostgreSQL refuses to run as root: as root, it runs as the `postgres` user.
    """

    def __init__(self, port: int, logs: Path):
        self.port = port
        self.logs = logs
        self.bin = postgres_bin()
        self.data = Path(tempfile.mkdtemp(prefix="audience-sync-faults-pg-"))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str, timeout: float = 120) -> None:
        subprocess.run([*self.as_user, *command], check=True, timeout=timeout, capture_output=True)

    def create(self, database: str) -> None:
        if self.as_user:
            shutil.chown(self.data, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data / "db"), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", database)

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data} "
                   "-c max_connections=300 -c fsync=off -c full_page_writes=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data / "db"), "-l", str(self.data / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        # fast: every connection is cut at once, as in a crash or a failover seen from the clients.
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data / "db"), "-m", "fast", "-w", "-t", "60", "stop")

    def restart(self, down_seconds: float = 3.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def remove(self) -> None:
        try:
            self.stop()
        except (subprocess.SubprocessError, OSError):
            pass
        log = self.data / "server.log"
        if log.exists():
            shutil.copy(log, self.logs / "postgres.log")
        shutil.rmtree(self.data, ignore_errors=True)


class RestartableSandbox(SandboxServer):
    """The sandbox on a fixed port that can go away (connection refused) and come back with its state."""

    def go_away(self) -> None:
        self.stop()

    def come_back(self) -> None:
        self.httpd = SandboxHTTPServer((self.host, self.port), self.state)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="pinterest-sandbox", daemon=True)
        self.thread.start()
