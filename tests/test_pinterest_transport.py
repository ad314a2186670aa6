"""How calls to Pinterest leave the machine: through the configured proxy, with the token as the only credential."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.pinterest import client


class _Proxy(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]]  # set by the fixture

    def do_GET(self):  # http.server's name
        # A proxy is sent the whole URL; an origin server only its path.
        self.seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps({"items": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy():
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Proxy.seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def fresh_transport(monkeypatch):
    # What a new process would read: no cached environment, a new session for this thread.
    client._environment_settings.cache_clear()
    monkeypatch.setattr(client._local, "session", None, raising=False)
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    yield
    client._environment_settings.cache_clear()
    client._local.session = None


def test_calls_go_through_the_proxy_the_environment_names(monkeypatch, proxy, fresh_transport):
    address, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", address)
    answer = client._send("GET", "http://pinterest.example/v5/ad_accounts", headers={"Authorization": "Bearer tok"})
    assert answer == {"items": []}
    assert seen == [("http://pinterest.example/v5/ad_accounts", "Bearer tok")]
    # Every later call too: the setting is read once per host, not forgotten.
    client._send("GET", "http://pinterest.example/v5/ad_accounts/1", headers={"Authorization": "Bearer tok"})
    assert [path for path, _ in seen] == ["http://pinterest.example/v5/ad_accounts",
                                          "http://pinterest.example/v5/ad_accounts/1"]


def test_no_proxy_hosts_are_called_directly(monkeypatch, proxy, fresh_transport):
    address, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    answer = client._send("GET", f"{address}/v5/ad_accounts", headers={"Authorization": "Bearer tok"})
    assert answer == {"items": []}
    assert seen == [("/v5/ad_accounts", "Bearer tok")]


def test_a_netrc_never_replaces_the_token(monkeypatch, tmp_path, proxy, fresh_transport):
    address, seen = proxy
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login someone password secret\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    client._send("GET", f"{address}/v5/ad_accounts", headers={"Authorization": "Bearer tok"})
    assert seen == [("/v5/ad_accounts", "Bearer tok")]
