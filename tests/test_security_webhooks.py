"""Alert webhooks cannot reach inside the network: refused when saved and again when delivering.

Only loopback listeners are ever contacted here. Names that would resolve to
an inside address elsewhere (metadata.google.internal) are made to resolve
to one by replacing socket.getaddrinfo for the test; nothing connects to them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from audiences import services
from audiences.models import AlertDelivery, AlertSettings
from integrations.models import Membership
from integrations.services.connections import connection_mark_invalid
from tests.api_support import acme_api, error_of  # noqa: F401

pytestmark = pytest.mark.django_db

# Names that resolve, in these tests, to an address inside.
INSIDE_NAMES = {"metadata.google.internal": "169.254.169.254", "intranet.acme.test": "10.1.2.3",
                "printer.acme.test": "fd12:3456::7", "loopback.acme.test": "127.0.0.1"}

INSIDE_URLS = [
    "http://127.0.0.1:8080/hooks",  # loopback
    "http://127.5.6.7/",  # loopback, anywhere in 127/8
    "http://localhost:8000/",  # a name for loopback
    "http://[::1]:9000/",  # IPv6 loopback
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://[::127.0.0.1]/",  # IPv4-compatible loopback
    "http://0.0.0.0:8000/",  # unspecified (reaches this machine)
    "http://[::]/",  # IPv6 unspecified
    "http://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
    "http://[fe80::1]/",  # IPv6 link-local
    "http://10.0.0.5/",  # private
    "http://172.16.0.1/",  # private
    "http://192.168.1.1/",  # private
    "http://100.64.0.1/",  # shared address space (carrier-grade NAT)
    "http://[fd00::1]/",  # unique-local
    "http://[fec0::1]/",  # site-local
    "http://224.0.0.1/",  # multicast
    "http://[ff02::1]/",  # IPv6 multicast
    "http://[::ffff:10.0.0.5]/",  # IPv4-mapped private
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped link-local
    "http://[2002:7f00:1::1]/",  # 6to4 around loopback
    "http://metadata.google.internal/computeMetadata/v1/",  # a name for link-local
    "http://intranet.acme.test/",  # a name for a private address
    "https://printer.acme.test/",  # a name for a unique-local address
    "file:///etc/passwd",  # not http(s)
    "gopher://127.0.0.1:70/",
    "ftp://ftp.acme.test/",
]


@pytest.fixture(autouse=True)
def inside_names(monkeypatch):
    """Resolve INSIDE_NAMES to their inside address; no DNS server is asked (other names do not resolve)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        address = INSIDE_NAMES.get(str(host).lower())
        if address is None:
            if host != "localhost" and not _is_ip(str(host)):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return real(host, port, *args, **kwargs)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, int(port or 0), 0, 0) if family == socket.AF_INET6 else (address, int(port or 0))
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@pytest.fixture
def acme_admin(acme, alice):
    Membership.objects.filter(workspace=acme, user=alice).update(role=Membership.Role.ADMIN)
    return alice


class Listener:
    """A webhook receiver on 127.0.0.1 that records every call and answers `status` (with `location`)."""

    def __init__(self, status: int = 204, location: str = ""):
        self.calls: list[dict] = []
        self.status, self.location = status, location
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                listener.calls.append({"headers": dict(self.headers), "body": body, "path": self.path})
                status = listener.status
                if isinstance(status, list):
                    status = status.pop(0) if len(status) > 1 else status[0]
                self.send_response(status)
                if listener.location:
                    self.send_header("Location", listener.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def listeners():
    made: list[Listener] = []

    def make(**kwargs) -> Listener:
        made.append(Listener(**kwargs))
        return made[-1]

    yield make
    for listener in made:
        listener.server.shutdown()
        listener.server.server_close()


def open_incident(connection) -> AlertDelivery:
    """An incident whose one delivery is the webhook; returns that delivery after the first attempt."""
    connection_mark_invalid(connection=connection, reason="Pinterest refused the token.")
    services.alerts_check()
    return AlertDelivery.objects.get(channel="webhook")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- Refused when saved ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", INSIDE_URLS)
def test_it_refuses_an_inside_address_through_the_api(acme_admin, acme_api, url):
    response = acme_api.patch("/api/v1/alert-settings/", {"webhook_url": url}, format="json")
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "invalid"
    assert "http(s)" in error["message"] or "public address" in error["message"]
    assert not AlertSettings.objects.filter(webhook_url=url).exists()


@pytest.mark.parametrize("url", INSIDE_URLS)
def test_it_refuses_an_inside_address_in_the_admin(acme, acme_admin, client, url):
    client.force_login(acme_admin)
    response = client.post(reverse("admin:audiences_alertsettings_add"), {
        "workspace": acme.pk, "enabled": "on", "to_admins": "on", "webhook_url": url, "errored_threshold": 100,
        "emails_text": ""})
    assert response.status_code == 200  # the form again, with its error
    errors = response.context["adminform"].form.errors
    assert "webhook_url" in errors, errors
    assert not AlertSettings.objects.filter(workspace=acme).exclude(webhook_url="").exists()


@pytest.mark.parametrize("url", INSIDE_URLS)
def test_it_refuses_an_inside_address_from_the_command(acme, url):
    with pytest.raises(CommandError, match=r"http\(s\)|public address"):
        call_command("alerts", "--workspace", "acme", "--webhook", url, stdout=StringIO())
    assert not AlertSettings.objects.filter(workspace=acme).exclude(webhook_url="").exists()


def test_it_accepts_a_public_address_and_records_only_its_host(acme_admin, acme_api):
    response = acme_api.patch("/api/v1/alert-settings/", {"webhook_url": "https://8.8.8.8/hooks?token=s3cret"},
                              format="json")
    assert response.status_code == 200, response.content
    events = acme_api.get("/api/v1/audit-events/").json()["results"]
    change = next(event for event in events if event["action"] == "alerts.update")
    assert change["details"]["webhook_host"] == "8.8.8.8"
    assert "s3cret" not in json.dumps(change) and response.json()["webhook_secret"] not in json.dumps(change)


def test_a_named_host_can_be_allowed_for_a_receiver_inside(acme_admin, acme_api, settings):
    settings.ALERT_WEBHOOK_ALLOWED_HOSTS = ["intranet.acme.test"]
    response = acme_api.patch("/api/v1/alert-settings/", {"webhook_url": "http://intranet.acme.test/hooks"},
                              format="json")
    assert response.status_code == 200, response.content
    # ...and only that one.
    response = acme_api.patch("/api/v1/alert-settings/", {"webhook_url": "http://10.1.2.3/hooks"}, format="json")
    assert response.status_code == 400


# --- Refused again when delivering ----------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "0.0.0.0", "loopback.acme.test"])
def test_it_sends_nothing_to_an_inside_address_written_straight_to_the_database(acme, connection, listeners, host):
    listener = listeners()
    services.alert_settings_update(workspace=acme, to_admins=False, webhook_url="https://hooks.acme.test/x")
    AlertSettings.objects.filter(workspace=acme).update(webhook_url=f"http://{host}:{listener.port}/hooks")

    delivery = open_incident(connection)

    assert listener.calls == []
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "public address" in delivery.last_error
    services.alerts_deliver(now=timezone.now() + timedelta(hours=2))  # and on every retry
    assert listener.calls == []


def test_it_follows_no_redirect(acme, connection, listeners, settings):
    settings.ALERT_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the first hop only is let through
    inside = listeners()
    first = listeners(status=307, location=inside.url)
    services.alert_settings_update(workspace=acme, to_admins=False, webhook_url=first.url)

    delivery = open_incident(connection)

    assert len(first.calls) == 1 and inside.calls == []
    assert delivery.last_error == "the webhook answered 307"


def test_the_stored_error_tells_no_open_port_from_a_closed_one(acme, connection, listeners, settings):
    settings.ALERT_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    services.alert_settings_update(workspace=acme, to_admins=False,
                                   webhook_url=f"http://127.0.0.1:{closed_port()}/hooks")
    closed = open_incident(connection).last_error
    assert closed == "could not connect"

    # A name that does not resolve reads the same.
    AlertDelivery.objects.update(recipient="https://no-such-host.acme.test/hooks")
    services.alerts_deliver(now=timezone.now() + timedelta(hours=2))
    assert AlertDelivery.objects.get().last_error == "could not connect"

    # An open port answers with its status code only.
    listener = listeners(status=500)
    AlertDelivery.objects.update(recipient=listener.url)
    services.alerts_deliver(now=timezone.now() + timedelta(hours=4))
    assert AlertDelivery.objects.get().last_error == "the webhook answered 500"


def test_it_connects_to_the_address_it_checked(acme, connection, listeners, settings, monkeypatch):
    """A second DNS answer (here 127.0.0.2, where nothing listens) is never asked for."""
    settings.ALERT_WEBHOOK_ALLOWED_HOSTS = ["hooks.acme.test"]
    listener = listeners()
    answers = iter(["127.0.0.1"])
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "hooks.acme.test":
            asked.append(host)
            address = next(answers, "127.0.0.2")
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]
        return real(host, port, *args, **kwargs)

    services.alert_settings_update(workspace=acme, to_admins=False, webhook_url="https://hooks.acme.test/x")
    AlertSettings.objects.filter(workspace=acme).update(webhook_url=f"http://hooks.acme.test:{listener.port}/in")
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    delivery = open_incident(connection)

    assert delivery.status == "sent", delivery.last_error
    assert asked == ["hooks.acme.test"]
    assert listener.calls[0]["headers"]["Host"] == f"hooks.acme.test:{listener.port}"


def test_each_delivery_carries_an_id_that_stays_the_same_on_retries(acme, connection, listeners, settings):
    settings.ALERT_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    listener = listeners(status=[500, 204])
    saved = services.alert_settings_update(workspace=acme, to_admins=False, webhook_url=listener.url)

    delivery = open_incident(connection)
    services.alerts_deliver(now=timezone.now() + timedelta(minutes=2))

    assert AlertDelivery.objects.get().status == "sent"
    ids = {call["headers"]["X-Alert-Delivery-Id"] for call in listener.calls}
    assert len(listener.calls) == 2 and ids == {str(delivery.pk)}
    for call in listener.calls:
        assert json.loads(call["body"])["delivery_id"] == str(delivery.pk)
        timestamp = call["headers"]["X-Alert-Timestamp"]
        expected = hmac.new(saved.webhook_secret.encode(), f"{timestamp}.".encode() + call["body"],
                            hashlib.sha256).hexdigest()
        assert call["headers"]["X-Alert-Signature"] == f"sha256={expected}"


def test_https_keeps_the_urls_name_for_tls_while_connecting_to_the_checked_address(settings, monkeypatch, tmp_path):
    """The certificate is checked against the URL's name (SNI too), though the call goes to the pinned address."""
    import datetime
    import ssl

    import requests
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from audiences.services import webhooks

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback.acme.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("loopback.acme.test")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    listener = Listener()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    names: list[str] = []
    context.sni_callback = lambda sock, server_name, ctx: names.append(server_name)
    listener.server.socket = context.wrap_socket(listener.server.socket, server_side=True)
    settings.ALERT_WEBHOOK_ALLOWED_HOSTS = ["loopback.acme.test"]
    url = f"https://loopback.acme.test:{listener.port}/hooks"
    try:
        with requests.Session() as session:
            session.trust_env = False
            session.mount("https://", webhooks._PinnedAdapter(webhooks.webhook_target(url)))
            response = session.post(url, data=b"{}", verify=str(tmp_path / "cert.pem"), timeout=5)
        assert response.status_code == 204
        assert names == ["loopback.acme.test"]
        assert listener.calls[0]["headers"]["Host"] == f"loopback.acme.test:{listener.port}"
        # Without that certificate trusted, the call fails in the same generic words.
        with pytest.raises(webhooks.WebhookFailed, match="^could not connect$"):
            webhooks.webhook_post(url, body=b"{}", headers={}, timeout=5)
    finally:
        listener.server.shutdown()
        listener.server.server_close()
