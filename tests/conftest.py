"""Shared fixtures: a real local Pinterest (the sandbox) over HTTP, and personas.

Tests talk to the sandbox on a local port, never patch our own functions.
Alice (workspace admin), Bob (marketer) and Vera (viewer) work in the "acme"
workspace; Charlie in "globex" must see none of it.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from integrations.pinterest.sandbox import SandboxServer


@pytest.fixture(scope="session")
def sandbox_server():
    server = SandboxServer(host="127.0.0.1", port=0, client_id="test-client-id", client_secret="test-client-secret")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server, settings):
    """A clean sandbox for each test, with the service pointed at it."""
    sandbox_server.state.reset()
    sandbox_server.state.set_faults(rate_429=0.0, rate_5xx=0.0, latency_ms=0)
    settings.PINTEREST_API_BASE_URL = sandbox_server.url
    settings.PINTEREST_OAUTH_AUTHORIZE_URL = sandbox_server.oauth_authorize_url
    settings.PINTEREST_CLIENT_ID = "test-client-id"
    settings.PINTEREST_CLIENT_SECRET = "test-client-secret"
    settings.SYNC_SENDER_AUTOSTART = False
    return sandbox_server


@pytest.fixture(autouse=True)
def _no_autostart(settings):
    # Tests drive the sender themselves; a real cluster is started only where a test says so.
    settings.SYNC_SENDER_AUTOSTART = False


@pytest.fixture
def acme(db):
    from integrations.services.workspaces import workspace_create

    return workspace_create(slug="acme", name="Acme")


@pytest.fixture
def globex(db):
    from integrations.services.workspaces import workspace_create

    return workspace_create(slug="globex", name="Globex")


@pytest.fixture
def alice(acme):
    """Acme's workspace admin: she holds its Pinterest connection, keys, alerts and members."""
    from integrations.services.workspaces import user_create_marketer

    return user_create_marketer(workspace=acme, username="alice", password="alice-password-1", email="alice@acme.test",
                                role="admin")


@pytest.fixture
def bob(acme):
    """A marketer of Acme: he builds and runs its canvases."""
    from integrations.services.workspaces import user_create_marketer

    return user_create_marketer(workspace=acme, username="bob", password="bob-password-1", email="bob@acme.test")


@pytest.fixture
def vera(acme):
    """A viewer of Acme: she reads its figures, records and audit log, and changes nothing."""
    from integrations.services.workspaces import user_create_marketer

    return user_create_marketer(workspace=acme, username="vera", password="vera-password-1", email="vera@acme.test",
                                role="viewer")


@pytest.fixture
def charlie(globex):
    from integrations.services.workspaces import user_create_marketer

    return user_create_marketer(workspace=globex, username="charlie", password="charlie-password-1")


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.test", "root-password-1")


@pytest.fixture
def pinterest_user(sandbox):
    """A Pinterest user at the sandbox with two ad accounts, and tokens for it."""
    user = sandbox.state.create_user(username="acme-ads", ad_accounts=2)
    tokens = sandbox.state.issue_tokens(user["id"])
    return {"user": user, "tokens": tokens}


@pytest.fixture
def connection(acme, sandbox, pinterest_user):
    from integrations.pinterest.client import TokenSet
    from integrations.services.connections import connection_connect

    tokens = pinterest_user["tokens"]
    return connection_connect(
        workspace=acme,
        tokens=TokenSet(
            access_token=tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            expires_in=tokens.get("expires_in"),
            refresh_token_expires_in=tokens.get("refresh_token_expires_in"),
            scope=tokens.get("scope", ""),
        ),
    )


@pytest.fixture
def ad_account(connection):
    return connection.ad_accounts.order_by("pinterest_id").first()


@pytest.fixture
def add_canvas(acme, ad_account):
    """A launched canvas with one step: add users (email) to a new audience."""
    from audiences import services

    canvas = services.canvas_create(workspace=acme, name="Welcome series")
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="Welcome audience")
    services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience)
    services.canvas_launch(canvas=canvas)
    return canvas


def make_users(n: int, *, start: int = 0, email: bool = True, idfa: bool = False, aaid: bool = False) -> list[dict]:
    users = []
    for i in range(start, start + n):
        user = {"external_id": f"user-{i}"}
        if email:
            user["email"] = f"  User{i}@Example.COM "
        if idfa:
            user["ios_idfa"] = f"{i:08x}-aaaa-bbbb-cccc-ddddeeeeffff"
        if aaid:
            user["android_aid"] = f"{i:08X}-AAAA-BBBB-CCCC-DDDDEEEEFFFF"
        users.append(user)
    return users


# --- No secret or raw identifier in any log line of the whole run -------------------------------------
# A handler on the root logger reads every record the service logs during the
# suite (at the configured level) and the run fails at its end if one carried an
# OAuth token (Pinterest's, and the sandbox's, start with pina_ / pinr_), the app
# secret, or a raw email or ad id that make_users() hands out.

import logging  # noqa: E402
import re  # noqa: E402

_LEAK = re.compile(
    r"\bpin[ar]_[A-Za-z0-9_\-]{8,}|test-client-secret|[\w.+-]+@example\.com|-aaaa-bbbb-cccc-ddddeeeeffff",
    re.IGNORECASE,
)


class _LeakWatch(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is not this watch's business
            text = str(record.msg)
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        if _LEAK.search(text):
            self.leaks.append(f"{record.name} {record.levelname}: {text[:500]}")


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_log_line():
    watch = _LeakWatch()
    logging.getLogger().addHandler(watch)
    yield watch
    logging.getLogger().removeHandler(watch)
    assert not watch.leaks, "secrets or raw identifiers were logged:\n" + "\n".join(watch.leaks[:20])


def pytest_terminal_summary(terminalreporter):
    """The figures the scale and fault tests measured, at the end of the log (CI shows them there)."""
    from tests import figures

    if figures.reported:
        terminalreporter.section("measured")
        for text in figures.reported:
            terminalreporter.write_line(text.strip("\n"))
