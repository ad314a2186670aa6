"""Run the web server, a django-q2 cluster and the local Pinterest sandbox together."""

import os
import signal
import subprocess
import sys
import time
from urllib.error import URLError
from urllib.request import urlopen

from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.models import PinterestConnection, Workspace
from integrations.pinterest.client import TokenSet
from integrations.services.connections import connection_connect


class Command(BaseCommand):
    help = "Run web (127.0.0.1:8000), worker (qcluster) and the Pinterest sandbox until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--no-sandbox", action="store_true", help="talk to PINTEREST_API_BASE_URL instead")

    def handle(self, *args, port, no_sandbox, **options):
        python = sys.executable
        processes: list[tuple[str, subprocess.Popen]] = []
        # A SIGTERM (from a supervisor or `kill`) stops everything like Ctrl-C.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            if not no_sandbox:
                processes.append(("sandbox", subprocess.Popen(
                    [python, "manage.py", "pinterest_sandbox", "--port", str(settings.SANDBOX_PORT), "--seed-demo"]
                )))
                self._wait_for(f"http://127.0.0.1:{settings.SANDBOX_PORT}/_sandbox/health")
                self._connect_demo_workspace()
            processes.append(("worker", subprocess.Popen([python, "manage.py", "qcluster"])))
            processes.append(("web", subprocess.Popen(
                [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
            )))
            self.stdout.write(self.style.SUCCESS(
                f"Admin: http://127.0.0.1:{port}/admin/   API docs: http://127.0.0.1:{port}/api/v1/docs/   "
                f"Pinterest sandbox: http://127.0.0.1:{settings.SANDBOX_PORT}/   (Ctrl-C stops all)"
            ))
            while all(p.poll() is None for _, p in processes):
                time.sleep(0.5)
            stopped = [name for name, p in processes if p.poll() is not None]
            self.stderr.write(f"{', '.join(stopped)} stopped; shutting down the rest.")
        except KeyboardInterrupt:
            pass
        finally:
            # Signal each main process only: SIGTERM to a qcluster's whole
            # process group can hang its workers (django-q2 #346).
            for _, process in reversed(processes):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for _, process in reversed(processes):
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _connect_demo_workspace(self) -> None:
        """Connect the demo workspace to the sandbox's demo Pinterest user, once, so it works at once."""
        workspace = Workspace.objects.filter(slug="demo").first()
        if workspace is None or PinterestConnection.objects.filter(workspace=workspace).exists():
            return
        tokens = TokenSet("pina_demo_access_token", "pinr_demo_refresh_token", 30 * 24 * 3600, None, "")
        connection_connect(workspace=workspace, tokens=tokens)
        self.stdout.write("Demo workspace connected to the sandbox's demo Pinterest user.")

    def _wait_for(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # The standard library's client: a health check of our own local servers needs no more.
            try:
                with urlopen(url, timeout=1) as response:
                    if response.status < 400:
                        return
            except (URLError, OSError):
                pass
            time.sleep(0.2)
        raise SystemExit(f"{url} did not answer within {timeout:.0f} s")
