"""The parts around the service, started by a fault test so that it may break them: Redis and Pinterest (the sandbox)."""

from __future__ import annotations

import subprocess
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


class RestartableSandbox(SandboxServer):
    """The sandbox on a fixed port that can go away (connection refused) and come back with its state."""

    def go_away(self) -> None:
        self.stop()

    def come_back(self) -> None:
        self.httpd = SandboxHTTPServer((self.host, self.port), self.state)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="pinterest-sandbox", daemon=True)
        self.thread.start()
