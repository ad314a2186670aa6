"""A client generated from /api/v1/schema/ with openapi-python-client: no warning, only named models, and it
does a partner's whole job (the README's example) against the real API.

The generator runs as a subprocess into a temporary directory; the job runs the
generated package over httpx's WSGI transport, so every answer goes through
the generated parsers (a shape the schema does not describe fails there).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from audiences.models import SyncRecord
from tests.api_support import key_for, pinterest_audience

pytest.importorskip("openapi_python_client", reason="openapi-python-client is not installed")

PACKAGE = "audience_sync_client"
ANONYMOUS = re.compile(r"(Type\d+|Item|Items|\d+)$")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, str, set[str]]:
    """(directory holding the package, the generator's output, the schema's component names)."""
    schema = json.loads(Client().get("/api/v1/schema/?format=json").content)
    root = tmp_path_factory.mktemp("client")
    (root / "schema.json").write_text(json.dumps(schema))
    # The generator formats its output with ruff, which sits beside this interpreter.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(root / "schema.json"),
         "--output-path", str(root / PACKAGE), "--meta", "none"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    return root, output, set(schema["components"]["schemas"])


def test_the_generator_has_nothing_to_warn_about(generated):
    _, output, _ = generated
    assert "warning" not in output.lower(), output
    assert "error" not in output.lower(), output
    assert output.strip() == "Generating " + str(generated[0] / PACKAGE), output


def test_every_model_is_a_named_component(generated):
    root, _, components = generated
    models = sorted(
        match.group(1)
        for path in (root / PACKAGE / "models").glob("*.py")
        for match in re.finditer(r"^class (\w+)\b", path.read_text(), re.MULTILINE)
    )
    assert models
    anonymous = [name for name in models if ANONYMOUS.search(name) or name not in components]
    assert not anonymous, f"models generated from inline schemas: {anonymous}"


@pytest.fixture
def in_test_transaction():
    """The generated client calls the WSGI app directly: keep it from closing the test's connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def sdk(generated, monkeypatch):
    root, _, _ = generated
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    return importlib.import_module(PACKAGE)


@pytest.mark.django_db
def test_a_generated_client_does_the_partners_job(sdk, acme, ad_account, sandbox, in_test_transaction):
    import httpx

    from project.wsgi import application

    pinterest_audience(sandbox, ad_account, "Newsletter readers")
    pinterest_audience(sandbox, ad_account, "Newsletter bounces")
    # --- As in README.md, "A partner's job with a generated client" ---
    from audience_sync_client import AuthenticatedClient
    from audience_sync_client.api.audiences import ad_account_audiences_list
    from audience_sync_client.api.canvases import canvases_create, canvases_launch, canvases_list
    from audience_sync_client.api.connection import connection_retrieve
    from audience_sync_client.api.entries import canvas_entries_create
    from audience_sync_client.api.metrics import steps_metrics
    from audience_sync_client.api.records import steps_records_list
    from audience_sync_client.api.steps import canvas_steps_create
    from audience_sync_client.models import (
        CanvasInputRequest,
        EntriesRequest,
        EntryUser,
        MatchFieldsEnum,
        NewAudience,
        StepInputRequest,
    )

    api = AuthenticatedClient(base_url="http://testserver", token=key_for(acme, "generated client"),
                              httpx_args={"transport": httpx.WSGITransport(app=application)})

    connection = connection_retrieve.sync(client=api)
    ad_account_id = next(a.id for a in connection.ad_accounts if a.enabled)
    page = ad_account_audiences_list.sync(ad_account_id, client=api, search="newsletter", page_size=1)
    found = list(page.results)
    while page.next_cursor:
        page = ad_account_audiences_list.sync(ad_account_id, client=api, cursor=page.next_cursor, page_size=1)
        found += page.results
    canvas = canvases_create.sync(client=api, body=CanvasInputRequest(name="Welcome series"))
    step = canvas_steps_create.sync(canvas.id, client=api, body=StepInputRequest(
        ad_account=ad_account_id, audience=NewAudience(new="Welcome audience"), match_fields=[MatchFieldsEnum.EMAIL]))
    canvases_launch.sync(canvas.id, client=api)
    result = canvas_entries_create.sync(canvas.id, client=api, idempotency_key="batch-1", body=EntriesRequest(
        users=[EntryUser(external_id="u1", email="ann@example.com"), EntryUser(external_id="u2")]))
    numbers = steps_metrics.sync(step.id, client=api)
    records = steps_records_list.sync(step.id, client=api, page_size=100)
    # --- end of the README's example ---

    assert sorted(a.name for a in found) == ["Newsletter bounces", "Newsletter readers"]
    assert step.audience.name == "Welcome audience"
    assert step.audience.status.value == "draft"
    assert (result.entered, result.pending, result.not_synced) == (2, 1, 1)
    assert (numbers.entered, numbers.pending, numbers.not_synced) == (2, 1, 1)
    assert [r.external_id for r in records.results] == ["u1", "u2"]
    assert records.next_cursor is None
    assert {r.state.value for r in records.results} == {SyncRecord.State.PENDING, SyncRecord.State.NOT_SYNCED}
    assert [c.name for c in canvases_list.sync(client=api).results] == ["Welcome series"]

    again = canvas_entries_create.sync_detailed(canvas.id, client=api, idempotency_key="batch-1", body=EntriesRequest(
        users=[EntryUser(external_id="u1", email="ann@example.com"), EntryUser(external_id="u2")]))
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.parsed.entered == 2

    refused = canvas_steps_create.sync_detailed(canvas.id, client=api, body=StepInputRequest(name="x"))
    assert refused.status_code == 409
    assert refused.parsed.error.code.value == "not_allowed"
