"""What both benchmarks need: a fresh database, the sandbox, and a launched Audience Sync canvas."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def production_env() -> dict[str, str]:
    """DEBUG off, as a deployment runs, with throwaway secrets and plain HTTP on the loopback."""
    from cryptography.fernet import Fernet

    return {"DEBUG": "0", "SECRET_KEY": "bench-" + Fernet.generate_key().decode(),
            "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "SECURE_SSL_REDIRECT": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver"}


def prepare(*, database_url: str, sandbox_port: int, extra_env: dict[str, str]) -> dict[str, str]:
    """Point this process (and the children it starts) at a fresh database and the sandbox; set Django up."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DATABASE_URL": database_url,
            "SANDBOX_PORT": str(sandbox_port),
            "PINTEREST_API_BASE_URL": f"http://127.0.0.1:{sandbox_port}/v5",
            "PINTEREST_OAUTH_AUTHORIZE_URL": f"http://127.0.0.1:{sandbox_port}/oauth/",
            "LOG_LEVEL": "WARNING",
            **extra_env,
        }
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    if database_url.startswith("postgres"):
        _create_postgres_database(database_url)
    subprocess.run([sys.executable, "manage.py", "flush", "--noinput"], env=env, capture_output=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], env=env, check=True, capture_output=True)

    import django

    django.setup()
    return env


def _create_postgres_database(database_url: str) -> None:
    """Create the benchmark's database when it does not exist yet."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def start_sandbox(env: dict[str, str], port: int, *options: str) -> subprocess.Popen:
    """The sandbox with Pinterest's limits, in its own process; returns once it answers."""
    import requests

    process = subprocess.Popen(
        [sys.executable, "manage.py", "pinterest_sandbox", "--port", str(port), *options], env=env,
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            if requests.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1).ok:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the sandbox did not start")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal the main pid only (django-q2 #346), then wait; kill if it hangs, and kill what it leaves behind.

    A qcluster waits for its running tasks (a sender pump runs up to 40 s); killed
    before that, its sentinel and workers live on, and a pump among them would
    go on sending from the next run's database of the same name.
    """
    left = descendants(process.pid)
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), children first."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, below = [], [pid]
    while below:
        current = below.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found += children
        below += children
    return found


def launched_canvas(*, sandbox_port: int, slug: str, **step_options):
    """A workspace connected to a new sandbox user, with a launched one-step Audience Sync canvas."""
    import requests

    from audiences import services
    from integrations.pinterest.client import TokenSet
    from integrations.services.connections import connection_connect
    from integrations.services.workspaces import workspace_create

    control = f"http://127.0.0.1:{sandbox_port}/_sandbox"
    tokens = requests.post(f"{control}/users", json={"username": slug, "ad_accounts": 1}, timeout=5).json()["tokens"]
    workspace = workspace_create(slug=f"{slug}-{int(time.time())}")
    connection = connection_connect(
        workspace=workspace,
        tokens=TokenSet(tokens["access_token"], tokens["refresh_token"], tokens.get("expires_in"), None, ""),
    )
    ad_account = connection.ad_accounts.first()
    canvas = services.canvas_create(workspace=workspace, name="Benchmark")
    audience = services.audience_create_draft(workspace=workspace, ad_account=ad_account, name="Benchmark audience")
    step = services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience, **step_options)
    services.canvas_launch(canvas=canvas)
    return workspace, canvas, step
