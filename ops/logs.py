"""Structured logs: every line knows its request or task, and the workspace where known.

`LOG_FORMAT=json` makes each line one JSON object (python-json-logger) with
`request_id` (the X-Request-ID a proxy sent, or a new one, echoed back in
the response), `task_id` inside a django-q2 task, and `workspace` (the slug
of the API key's workspace, or of the marketer page's: /pinterest/<slug>/).
The plain text format stays the default (`make run`).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import uuid

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
task_id: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="")
current_request: contextvars.ContextVar[object | None] = contextvars.ContextVar("current_request", default=None)
workspace: contextvars.ContextVar[str] = contextvars.ContextVar("workspace", default="")

# A request id from outside is kept only if it is short and plain (it lands in every log line).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s %(workspace)s"


class ContextFilter(logging.Filter):
    """Adds request_id, task_id and workspace to every record (empty strings when unknown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.task_id = task_id.get()
        record.workspace = workspace.get() or _workspace_of(current_request.get())
        return True


# Paths that carry a partner's id for a user (DELETE /api/v1/users/<external id>/): what follows is never logged,
# whatever the case, the slashes or the query. Django's own "Not Found: <path>" warnings are the usual carrier.
_ID_IN_PATH = re.compile(r"(/api/v1/+users/+)[^\s'\"]*", re.IGNORECASE)
REDACTED = "<id>/"


def redact_ids(text: str) -> str:
    return _ID_IN_PATH.sub(lambda m: m.group(1) + REDACTED, text)


class RedactIdsFilter(logging.Filter):
    """Takes external ids out of a record's message (formatted here) and out of the request it carries."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_ids(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        request = getattr(record, "request", None)
        if request is not None and not isinstance(request, _RedactedRequest) and \
                redact_ids(getattr(request, "path", "")) != getattr(request, "path", ""):
            record.request = _RedactedRequest(request)
        return True


class _RedactedRequest:
    """A request as a log record shows it (JSON lines print extras with str()), with its path's id redacted."""

    def __init__(self, request):
        self._request = request

    def __getattr__(self, name):
        return getattr(self._request, name)

    def __str__(self) -> str:
        return f"<{type(self._request).__name__}: {self._request.method} {redact_ids(self._request.path)!r}>"

    __repr__ = __str__


def _workspace_of(request) -> str:
    """The workspace a request acts for, once it is known: an API key's (DRF sets request.auth) or a marketer's."""
    if request is None:
        return ""
    api_key = getattr(request, "auth", None)
    workspace_id = getattr(api_key, "workspace_id", None)
    if workspace_id is not None:
        # Never a query from inside logging: the slug when the key's workspace is loaded, else its id.
        loaded = api_key._state.fields_cache.get("workspace")
        return loaded.slug if loaded is not None else str(workspace_id)
    return getattr(request, "_ops_workspace", "")


class RequestIdMiddleware:
    """Gives each request an id for its log lines and answers it in X-Request-ID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        # Kept until the response is closed (request_finished), not reset on the way out: Django logs
        # a 4xx/5xx answer (django.request) after the middleware returns, and that line needs the id too.
        request_id.set(rid)
        current_request.set(request)
        workspace.set("")
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # The marketer's Pinterest page names its workspace in the path.
        slug = view_kwargs.get("workspace_slug") or view_kwargs.get("slug")
        if isinstance(slug, str):
            request._ops_workspace = slug[:50]
        return None


@contextlib.contextmanager
def workspace_bound(slug: str):
    """Log lines written inside name this workspace (a sender thread works for many, one batch at a time)."""
    token = workspace.set(slug)
    try:
        yield
    finally:
        workspace.reset(token)


def _task_started(sender, func=None, task=None, **kwargs) -> None:
    task_id.set(str((task or {}).get("id", "")))


def _task_finished(sender, func=None, task=None, **kwargs) -> None:
    task_id.set("")


def _request_finished(sender, **kwargs) -> None:
    request_id.set("")
    current_request.set(None)
    workspace.set("")


def connect_signals() -> None:
    from django.core.signals import request_finished
    from django_q.signals import post_execute_in_worker, pre_execute

    request_finished.connect(_request_finished, dispatch_uid="ops.logs.request_finished")
    pre_execute.connect(_task_started, dispatch_uid="ops.logs.task_started")
    post_execute_in_worker.connect(_task_finished, dispatch_uid="ops.logs.task_finished")


def json_formatter() -> logging.Formatter:
    """One JSON object a line: time, level, logger, message, request_id, task_id, workspace (and any `extra`)."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(FIELDS, rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})


def logging_config(*, log_format: str, level: str) -> dict:
    """Django's LOGGING: plain text (the default) or one JSON object a line."""
    formatters = {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "ops.logs.json_formatter"},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "ops.logs.ContextFilter"}, "redact_ids": {"()": "ops.logs.RedactIdsFilter"}},
        "formatters": formatters,
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "plain",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "urllib3": {"level": "WARNING"},
            # Django names the path of every 4xx/5xx answer: on the loggers themselves, so every handler
            # (and anything capturing records) gets them redacted.
            "django.request": {"filters": ["redact_ids"]},
            "django.server": {"filters": ["redact_ids"]},
        },
    }
