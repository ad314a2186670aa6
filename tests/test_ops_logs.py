"""LOG_FORMAT=json: one JSON object a line with its request or task id and the workspace; text stays the default."""

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from ops import logs
from tests.api_support import _fresh_throttle_counts, acme_api  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    """What the service logs during the test, formatted as LOG_FORMAT=json formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_formatter())
    handler.addFilter(logs.ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def test_each_line_of_a_request_has_its_id_and_the_workspace(acme_api, json_lines):
    response = acme_api.get("/api/v1/canvases/987654/", HTTP_X_REQUEST_ID="lb-4242")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "lb-4242"
    lines = [line for line in json_lines() if line["logger"] == "django.request"]
    assert lines, json_lines()
    assert lines[-1]["request_id"] == "lb-4242"
    assert lines[-1]["workspace"] == "acme"
    assert {"time", "level", "logger", "message", "request_id", "task_id", "workspace"} <= set(lines[-1])


def test_a_request_without_an_id_gets_one_and_a_strange_one_is_replaced():
    first = Client().get("/healthz")["X-Request-ID"]
    second = Client().get("/healthz")["X-Request-ID"]
    assert len(first) == 32 and first != second
    replaced = Client().get("/healthz", HTTP_X_REQUEST_ID='a"b\nc')["X-Request-ID"]
    assert replaced != 'a"b\nc' and len(replaced) == 32


def test_each_line_of_a_task_has_the_task_id(json_lines):
    from django_q.signals import post_execute_in_worker, pre_execute

    pre_execute.send(sender="django_q", func=print, task={"id": "3f2a9c"})
    logging.getLogger("audiences.tasks").warning("swept %d", 3)
    post_execute_in_worker.send(sender="django_q", func=print, task={"id": "3f2a9c"})
    logging.getLogger("audiences.tasks").warning("after")
    first, after = [line for line in json_lines() if line["logger"] == "audiences.tasks"]
    assert (first["task_id"], first["message"], first["level"]) == ("3f2a9c", "swept 3", "WARNING")
    assert after["task_id"] == ""


def run_logging(**env) -> str:
    import os

    code = "import django; django.setup(); import logging; logging.getLogger('audiences').warning('hello %s', 7)"
    environ = {k: v for k, v in os.environ.items() if k not in ("LOG_FORMAT", "LOG_LEVEL")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**environ, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_the_switch_turns_json_on_and_text_stays_the_default():
    line = json.loads(run_logging(LOG_FORMAT="json"))
    assert (line["logger"], line["level"], line["message"]) == ("audiences", "WARNING", "hello 7")
    text = run_logging()
    assert text.endswith("WARNING audiences hello 7") and not text.startswith("{")


@pytest.mark.django_db(transaction=True)
def test_a_sender_threads_lines_carry_the_pump_task_and_the_batchs_workspace(sandbox, add_canvas, json_lines):
    """The pump's requests go out from threads of its own; their lines still say which task and workspace."""
    from django_q.signals import post_execute_in_worker, pre_execute

    from audiences import services
    from audiences.sending import pump
    from tests.conftest import make_users

    services.users_enter(canvas=add_canvas, users=make_users(10))
    delivery_log = logging.getLogger("audiences.sending.delivery")
    level = delivery_log.level
    delivery_log.setLevel(logging.DEBUG)
    pre_execute.send(sender="django_q", func=pump.run, task={"id": "pump-task-17"})
    try:
        pump.run(0, seconds=2)
    finally:
        post_execute_in_worker.send(sender="django_q", func=pump.run, task={"id": "pump-task-17"})
        delivery_log.setLevel(level)

    sent = [line for line in json_lines() if line["logger"] == "audiences.sending.delivery"]
    assert sent, json_lines()
    assert {(line["task_id"], line["workspace"]) for line in sent} == {("pump-task-17", add_canvas.workspace.slug)}
