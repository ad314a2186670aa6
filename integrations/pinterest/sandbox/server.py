"""The sandbox's HTTP server: Pinterest's v5 routes this service uses, plus control endpoints.

API routes live under /v5 (what PINTEREST_API_BASE_URL points at); the
consent page is /oauth/ (PINTEREST_OAUTH_AUTHORIZE_URL); /_sandbox/* lets
tests and the command line inspect the state and inject faults. Request
logs never include tokens or record values.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from integrations.pinterest.sandbox.state import ApiError, SandboxState

API = "/v5"
ID = r"(\d{1,18})"
ROUTES = [
    ("GET", re.compile(rf"^{API}/user_account$"), "user_account"),
    ("GET", re.compile(rf"^{API}/ad_accounts$"), "ad_accounts_list"),
    ("GET", re.compile(rf"^{API}/ad_accounts/{ID}$"), "ad_accounts_get"),
    ("POST", re.compile(rf"^{API}/ad_accounts/{ID}/customer_lists$"), "customer_lists_create"),
    ("GET", re.compile(rf"^{API}/ad_accounts/{ID}/customer_lists$"), "customer_lists_list"),
    ("GET", re.compile(rf"^{API}/ad_accounts/{ID}/customer_lists/{ID}$"), "customer_lists_get"),
    ("PATCH", re.compile(rf"^{API}/ad_accounts/{ID}/customer_lists/{ID}$"), "customer_lists_update"),
    ("POST", re.compile(rf"^{API}/ad_accounts/{ID}/audiences$"), "audiences_create"),
    ("GET", re.compile(rf"^{API}/ad_accounts/{ID}/audiences$"), "audiences_list"),
    ("GET", re.compile(rf"^{API}/ad_accounts/{ID}/audiences/{ID}$"), "audiences_get"),
    ("PATCH", re.compile(rf"^{API}/ad_accounts/{ID}/audiences/{ID}$"), "audiences_update"),
]

CONSENT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Pinterest sandbox · Give access</title>
<style>
body {{ font-family: -apple-system, Helvetica, Arial, sans-serif; background: #f7f7f7; margin: 0; }}
main {{ max-width: 420px; margin: 64px auto; background: #fff; border-radius: 16px; padding: 32px;
       box-shadow: 0 2px 12px rgba(0,0,0,.08); }}
h1 {{ font-size: 22px; margin: 0 0 8px; }} .logo {{ color: #e60023; font-weight: 700; font-size: 28px; }}
ul {{ padding-left: 20px; color: #333; }} label {{ display: block; margin: 16px 0 4px; color: #555; }}
input[type=text] {{ width: 100%; padding: 8px; border: 1px solid #ccc; border-radius: 8px; box-sizing: border-box; }}
.who {{ background: #f1f1f1; border-radius: 8px; padding: 10px 12px; }}
.buttons {{ display: flex; gap: 12px; margin-top: 24px; }}
button {{ flex: 1; padding: 12px; border-radius: 24px; border: 0; font-size: 15px; cursor: pointer; }}
#allow {{ background: #e60023; color: #fff; }} #deny {{ background: #efefef; }}
</style></head>
<body><main>
<div class="logo">Pinterest</div>
<h1>Give access to your Pinterest account?</h1>
<p>An app wants to use your account (local sandbox).</p>
<ul>{scopes}</ul>
<form method="post" action="/oauth/">
{hidden}
<p class="who" id="granting-user">You are giving access as the Pinterest user <strong id="granting-username">sandbox-user</strong>.
The app will see this user's ad accounts, and only theirs.</p>
<label for="username">Pinterest user (sandbox: type another name to be another user{known})</label>
<input type="text" id="username" name="username" value="sandbox-user" autocomplete="off">
<script>
document.getElementById("username").addEventListener("input", function (event) {{
  document.getElementById("granting-username").textContent = event.target.value.trim() || "sandbox-user";
}});
</script>
<div class="buttons">
<button type="submit" id="deny" name="decision" value="deny">Cancel</button>
<button type="submit" id="allow" name="decision" value="allow">Give access</button>
</div>
</form>
</main></body></html>
"""

HOME_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Pinterest sandbox</title></head>
<body style="font-family: -apple-system, Helvetica, Arial, sans-serif; max-width: 640px; margin: 48px auto; line-height: 1.5">
<h1>Local Pinterest sandbox</h1>
<p>This is a stand-in for Pinterest that the service talks to when it runs locally. Nothing here reaches Pinterest.</p>
<ul>
<li>The API answers under <code>{api}/</code> like Pinterest's v5 API.</li>
<li>Connecting a workspace opens the consent page at <code>/oauth/</code> (start from the workspace's Pinterest page in the admin).</li>
<li>Test controls live under <code>/_sandbox/</code>; <a href="/_sandbox/health">/_sandbox/health</a> says whether it is up.</li>
</ul>
<p>Pinterest users so far: {users}.</p>
</body></html>
"""

SCOPE_TEXT = {
    "ads:read": "See your ad accounts, audiences and customer lists",
    "ads:write": "Create and change audiences and customer lists",
    "user_accounts:read": "See your account information",
}


class Handler(BaseHTTPRequestHandler):
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

    # --- the API -------------------------------------------------------------------------

    def _api(self, method: str, path: str, query: dict, raw: bytes) -> None:
        for route_method, pattern, name in ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                break
        else:
            raise ApiError(404, 404, "Not found.")
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        entry = {"t": time.time(), "method": method, "path": path, "token_user": None, "records": None}
        try:
            user = self.state.authenticate(token)
            entry["token_user"] = user.id
            entry["t"] = self.state.admit(user)
            latency = self.state.faults["latency_ms"]
            if latency:
                time.sleep(latency / 1000)
            body = self._json_body(raw) if method in ("POST", "PATCH") else {}
            if isinstance(body.get("records"), str):
                entry["records"] = body["records"].count(",") + 1 if body["records"] else 0
            result = getattr(self, f"_op_{name}")(user, query, body, *match.groups())
        except ApiError as error:
            entry["status"] = error.status
            self.state.record(**entry)
            raise
        entry["status"] = 200
        self.state.record(**entry)
        self._send(200, result)

    def _page_size(self, query: dict) -> int:
        try:
            size = int(query.get("page_size", 25))
        except ValueError:
            raise ApiError(400, 1, "page_size must be an integer.") from None
        if not 1 <= size <= 250:
            raise ApiError(400, 1, "page_size must be between 1 and 250.")
        return size

    def _op_user_account(self, user, query, body):
        data = self.state.user_json(user)
        data.pop("ad_account_ids")
        return data

    def _op_ad_accounts_list(self, user, query, body):
        with self.state.lock:
            items = [self.state.ad_accounts[i] for i in user.ad_account_ids]
        return self.state.page(items, bookmark=query.get("bookmark"), page_size=self._page_size(query))

    def _op_ad_accounts_get(self, user, query, body, ad_account_id):
        return self.state.ad_account_for(user, ad_account_id)

    def _op_customer_lists_create(self, user, query, body, ad_account_id):
        return self.state.create_list(user, ad_account_id, body)

    def _op_customer_lists_list(self, user, query, body, ad_account_id):
        with self.state.lock:
            self.state.ad_account_for(user, ad_account_id)
            items = [self.state.list_json(l) for l in self.state.lists.values() if l.ad_account_id == ad_account_id]
        if query.get("order") == "DESCENDING":
            items.reverse()
        return self.state.page(items, bookmark=query.get("bookmark"), page_size=self._page_size(query))

    def _op_customer_lists_get(self, user, query, body, ad_account_id, list_id):
        with self.state.lock:
            return self.state.list_json(self.state.get_list(user, ad_account_id, list_id))

    def _op_customer_lists_update(self, user, query, body, ad_account_id, list_id):
        return self.state.update_list(user, ad_account_id, list_id, body)

    def _op_audiences_create(self, user, query, body, ad_account_id):
        return self.state.create_audience(user, ad_account_id, body)

    def _op_audiences_list(self, user, query, body, ad_account_id):
        with self.state.lock:
            self.state.ad_account_for(user, ad_account_id)
            items = [
                self.state.audience_json(a) for a in self.state.audiences_by_id.values()
                if a.ad_account_id == ad_account_id and not a.deleted
            ]
        if query.get("order") == "DESCENDING":
            items.reverse()
        return self.state.page(items, bookmark=query.get("bookmark"), page_size=self._page_size(query))

    def _op_audiences_get(self, user, query, body, ad_account_id, audience_id):
        with self.state.lock:
            return self.state.audience_json(self.state.get_audience(user, ad_account_id, audience_id))

    def _op_audiences_update(self, user, query, body, ad_account_id, audience_id):
        return self.state.update_audience(user, ad_account_id, audience_id, body)

    # --- OAuth ------------------------------------------------------------------------------

    def _token(self, raw: bytes) -> None:
        auth = self.headers.get("Authorization", "")
        try:
            client_id, client_secret = base64.b64decode(auth[6:]).decode().split(":", 1) if auth.startswith("Basic ") else ("", "")
        except (ValueError, UnicodeDecodeError):
            client_id, client_secret = "", ""
        if not self.state.check_client(client_id, client_secret):
            raise ApiError(401, 2, "Authentication failed.")
        form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            if not form.get("code") or not form.get("redirect_uri"):
                raise ApiError(400, 1, "code and redirect_uri are required.")
            result = self.state.exchange_code(code=form["code"], redirect_uri=form["redirect_uri"])
        elif grant == "refresh_token":
            if not form.get("refresh_token"):
                raise ApiError(400, 1, "refresh_token is required.")
            result = self.state.refresh(refresh_token=form["refresh_token"])
        else:
            raise ApiError(400, 1, "Unsupported grant_type.")
        self.state.record(t=time.time(), method="POST", path=f"{API}/oauth/token", token_user=None, records=None, status=200)
        self._send(200, result)

    def _consent(self, method: str, query: dict, raw: bytes) -> None:
        params = query if method == "GET" else {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if not self.state.check_client(client_id) or params.get("response_type") != "code" or not redirect_uri:
            page = "<h1>Invalid authorization request</h1><p>Unknown client_id, missing redirect_uri or response_type is not code.</p>"
            return self._send(400, page.encode(), content_type="text/html; charset=utf-8")
        state = params.get("state", "")
        if method == "GET":
            scopes = [s for s in params.get("scope", "").split(",") if s]
            hidden = "\n".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(params.get(k, ""))}">'
                for k in ("client_id", "redirect_uri", "response_type", "scope", "state")
            )
            items = "".join(f"<li>{html.escape(SCOPE_TEXT.get(s, s))}</li>" for s in scopes)
            names = sorted({u.username for u in list(self.state.users.values())})[:10]
            known = f"; existing: {html.escape(', '.join(names))}" if names else ""
            page = CONSENT_PAGE.format(scopes=items, hidden=hidden, known=known)
            return self._send(200, page.encode(), content_type="text/html; charset=utf-8")
        if params.get("decision") == "allow":
            code = self.state.grant_code(
                client_id=client_id, redirect_uri=redirect_uri, scope=params.get("scope", ""),
                username=params.get("username", "sandbox-user").strip(),
            )
            answer = {"code": code, "state": state}
        else:
            answer = {"error": "access_denied", "state": state}
        separator = "&" if "?" in redirect_uri else "?"
        self.send_response(302)
        self.send_header("Location", redirect_uri + separator + urlencode(answer))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _home(self, path: str) -> None:
        # The README points people here: say what this is instead of a JSON 404.
        if path == "/favicon.ico":
            return self._send(204, b"", content_type="image/x-icon")
        page = HOME_PAGE.format(api=API, users=len(self.state.users))
        return self._send(200, page.encode(), content_type="text/html; charset=utf-8")

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
