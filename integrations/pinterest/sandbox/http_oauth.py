"""The sandbox's OAuth: the token endpoint, the consent page a person clicks through, and the home page."""

from __future__ import annotations

import base64
import html
import time
from urllib.parse import parse_qs, urlencode

from integrations.pinterest.sandbox.http_api import API
from integrations.pinterest.sandbox.resources import ApiError

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


class OAuthPagesMixin:
    """The sandbox handler's OAuth token endpoint, consent page and home page."""

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
