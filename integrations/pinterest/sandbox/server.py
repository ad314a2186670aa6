"""The sandbox's HTTP server: Pinterest's v5 routes this service uses, plus control endpoints.

API routes live under /v5 (what PINTEREST_API_BASE_URL points at); the
consent page is /oauth/ (PINTEREST_OAUTH_AUTHORIZE_URL); /_sandbox/* lets
tests and the command line inspect the state and inject faults. Request
logs never include tokens or record values.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from integrations.pinterest.sandbox.http_api import API, ApiRoutesMixin
from integrations.pinterest.sandbox.http_oauth import OAuthPagesMixin
from integrations.pinterest.sandbox.resources import ApiError, Received
from integrations.pinterest.sandbox.state import SandboxState


class Handler(ApiRoutesMixin, OAuthPagesMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "SandboxHTTPServer"

    def log_message(self, format: str, *args: object) -> None:  # silence: never log tokens or records
        pass

    # --- plumbing -------------------------------------------------------------------------

    @property
    def state(self) -> SandboxState:
        return self.server.state

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self, raw: bytes) -> dict:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError(400, 1, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, 1, "The request body must be a JSON object.")
        return body

    def _send(self, status: int, payload: object = None, *, headers: dict | None = None, content_type: str = "application/json") -> None:
        data = b"" if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-pinterest-rid", uuid.uuid4().hex[:16])
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        parsed = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        raw = self._body()
        path = parsed.path
        if not path.startswith("/_sandbox/"):
            self.state.observe(Received(method, self.path, dict(self.headers), raw))
        try:
            if path.startswith("/_sandbox/"):
                return self._control(method, path, raw)
            if path in ("/", "/favicon.ico") and method == "GET":
                return self._home(path)
            if path in ("/oauth", "/oauth/"):
                return self._consent(method, query, raw)
            if path == f"{API}/oauth/token" and method == "POST":
                return self._token(raw)
            return self._api(method, path, query, raw)
        except ApiError as error:
            self._send(error.status, error.body(), headers=error.headers)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- control -----------------------------------------------------------------------------

    def _control(self, method: str, path: str, raw: bytes) -> None:
        state = self.state
        body = self._json_body(raw) if method == "POST" else {}
        parts = path.strip("/").split("/")[1:]
        if parts == ["health"]:
            return self._send(200, {"ok": True})
        if parts == ["faults"] and method == "POST":
            return self._send(200, state.set_faults(**body))
        if parts == ["fail_next"] and method == "POST":
            state.fail_next(int(body.get("n", 1)), int(body.get("status", 503)))
            return self._send(200, {"ok": True})
        if parts == ["users"] and method == "POST":
            user = state.create_user(username=body.get("username", "sandbox-user"), ad_accounts=int(body.get("ad_accounts", 3)))
            return self._send(200, {"user": user, "tokens": state.issue_tokens(user["id"], body.get("access_ttl"))})
        if parts == ["revoke"] and method == "POST":
            if body.get("user_id"):
                return self._send(200, {"revoked": state.revoke_user(str(body["user_id"]))})
            return self._send(200, {"revoked": state.revoke(str(body.get("token", "")))})
        if parts == ["expire"] and method == "POST":
            state.expire(str(body.get("token", "")))
            return self._send(200, {"ok": True})
        if len(parts) == 3 and parts[0] == "audiences" and parts[2] == "delete" and method == "POST":
            return self._send(200, {"deleted": state.delete_audience(parts[1])})
        if len(parts) == 3 and parts[0] == "customer_lists" and parts[2] == "delete" and method == "POST":
            return self._send(200, {"deleted": state.delete_list(parts[1])})
        if parts == ["requests"]:
            return self._send(200, {"requests": state.requests_log()})
        if parts == ["customer_lists"]:
            return self._send(200, {"items": state.customer_lists()})
        if len(parts) == 3 and parts[0] == "customer_lists" and parts[2] == "records":
            return self._send(200, {"records": sorted(state.customer_list_records(parts[1]))})
        if parts == ["audiences"]:
            return self._send(200, {"items": state.audiences()})
        if parts == ["reset"] and method == "POST":
            state.reset()
            return self._send(200, {"ok": True})
        if parts == ["seed_demo"] and method == "POST":
            return self._send(200, state.seed_demo())
        raise ApiError(404, 404, "Unknown sandbox control endpoint.")


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the client went away (a killed worker, a timeout): nothing to report
        super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], state: SandboxState):
        super().__init__(address, Handler)
        self.state = state


class SandboxServer:
    """A running sandbox: `start()` serves in a daemon thread, `stop()` shuts it down."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: object):
        self.state = SandboxState(**options)
        self.httpd = SandboxHTTPServer((host, port), self.state)
        self.host, self.port = self.httpd.server_address[:2]
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{API}"

    @property
    def oauth_authorize_url(self) -> str:
        return f"http://{self.host}:{self.port}/oauth/"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.port}/_sandbox"

    def start(self) -> "SandboxServer":
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="pinterest-sandbox", daemon=True)
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
