"""One JSON shape for every error the API answers.

    {"error": {"code": "not_found", "message": "No canvas 12 in this workspace.", "details": {...}}}

`code` is stable and meant for programs; `message` is a sentence a developer
can act on; `details` carries what the code needs (the fields that failed,
the launch problems, ...). The exception handler below turns DRF's own
exceptions, Django's Http404 and the services' errors into this shape.
"""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from audiences import services
from audiences.api.error_codes import DEFAULT_CODES
from audiences.api.permissions import Forbidden
from integrations import roles

logger = logging.getLogger(__name__)

MAX_FIELD_ERRORS = 50


# --- Exceptions the views raise ----------------------------------------------------------


class Conflict(exceptions.APIException):
    """409: the request is valid but the object's state does not allow it now."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The object's current state does not allow this."

    def __init__(self, detail: str, *, code: str = "conflict", details: dict | None = None):
        super().__init__(detail, code)
        self.error_code = code
        self.details = details or {}


def max_body_bytes() -> int:
    """The largest request body the API reads (Django's DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 10 * 1024 * 1024


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = error_code = "payload_too_large"

    def __init__(self, limit: int):
        super().__init__(
            f"The request body is larger than {limit:,} bytes. Send fewer users per call "
            f"(at most 10,000) or split the request.",
            self.default_code,
        )
        self.details = {"max_bytes": limit}


class IdempotencyKeyConflict(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = error_code = "idempotency_key_reused"

    def __init__(self, key: str):
        super().__init__(
            "This Idempotency-Key was already used for a different request. Use a new key for a new request; "
            "a retry must repeat the original request exactly.",
            self.default_code,
        )
        self.details = {"idempotency_key": key}


class PinterestUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = error_code = "pinterest_unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message, self.default_code)
        self.wait = retry_after if retry_after is not None else 5


def error_response(code: str, message: str, http_status: int, details: dict | None = None,
                   headers: dict | None = None) -> Response:
    body: dict = {"code": code, "message": message}
    if details:
        body["details"] = details
    return Response({"error": body}, status=http_status, headers=headers)


# --- The handler ------------------------------------------------------------------------------------


def exception_handler(exc: Exception, context: dict) -> Response:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every exception becomes the one error shape."""
    exc = _translate(exc)
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        wait = getattr(exc, "wait", None)
        if wait is not None:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        http_status = exc.status_code
        if isinstance(exc, exceptions.ValidationError):
            return _validation_response(exc.detail, headers)
        code = getattr(exc, "error_code", None) or _api_code(exc, http_status)
        message = _sentence(exc.detail, http_status, context)
        return error_response(code, message, http_status, getattr(exc, "details", None), headers)
    logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
    set_rollback()
    return error_response("server_error", "Something went wrong on our side; the request changed nothing. "
                          "Try again later.", status.HTTP_500_INTERNAL_SERVER_ERROR)


def _translate(exc: Exception) -> Exception:
    """Services' and Django's exceptions as API exceptions."""
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge(max_body_bytes())
    if isinstance(exc, RecursionError):
        # Only input nests this deep (the parser refuses deep bodies; this is the net under it).
        return exceptions.ParseError("The request nests too deeply to be read.")
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) if exc.args else None)
    if isinstance(exc, roles.Forbidden):
        return Forbidden(str(exc))
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) if exc.args else None)
    if isinstance(exc, services.LaunchRefused):
        return Conflict("The canvas cannot be launched: " + " ".join(exc.problems), code="launch_refused",
                        details={"problems": exc.problems})
    if isinstance(exc, services.NotAllowed):
        return Conflict(str(exc), code="not_allowed")
    if isinstance(exc, services.ServiceError):
        return exceptions.ValidationError({"non_field_errors": [str(exc)]})
    if isinstance(exc, services.Held):
        return Conflict(f"The workspace's Pinterest connection cannot be used: {exc.message} "
                        "Reconnect Pinterest in the admin.", code="connection_unusable")
    if isinstance(exc, services.TryLater):
        if exc.retry_after is not None:
            return PinterestUnavailable("Pinterest asked us to slow down; try again shortly.", retry_after=exc.retry_after)
        return PinterestUnavailable(f"Pinterest did not answer ({exc.message}); try again shortly.")
    if isinstance(exc, services.Refused):
        return exceptions.ValidationError({"non_field_errors": [f"Pinterest refused the request: {exc.message}"]})
    return exc


def _api_code(exc: exceptions.APIException, http_status: int) -> str:
    if isinstance(exc, exceptions.AuthenticationFailed):
        return "authentication_failed"
    if isinstance(exc, exceptions.ParseError):
        return "malformed_json"
    return DEFAULT_CODES.get(http_status, str(getattr(exc, "default_code", "error")))


def _sentence(detail, http_status: int, context: dict) -> str:
    if isinstance(detail, dict):
        detail = next(iter(detail.values()), "")
    if isinstance(detail, list):
        detail = detail[0] if detail else ""
    text = str(detail).strip()
    if http_status == 404 and text in ("", "Not found.", "No Page matches the given query."):
        request = context.get("request")
        path = request.path if request is not None else "this path"
        text = f"Nothing at {path} in this workspace: check the id, and that it belongs to your API key's workspace."
    return text


def _validation_response(detail, headers: dict) -> Response:
    fields = flatten_errors(detail)
    shown = dict(list(fields.items())[:MAX_FIELD_ERRORS])
    first_path, first_messages = next(iter(shown.items()), ("", [""]))
    where = "" if first_path in ("", "non_field_errors") else f"{first_path}: "
    message = f"{where}{first_messages[0]}"
    if len(fields) > 1:
        message += f" ({len(fields) - 1} more problem{'s' if len(fields) > 2 else ''} in details.fields)"
    details: dict = {"fields": shown}
    if len(fields) > MAX_FIELD_ERRORS:
        details["more"] = len(fields) - MAX_FIELD_ERRORS
    row, field_name = _first_row(first_path)
    if row is not None:
        details["row"] = row
        if field_name:
            details["field"] = field_name
    return error_response("invalid", message, status.HTTP_400_BAD_REQUEST, details, headers)


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """{"users": {3: {"email": ["..."]}}} -> {"users[3].email": ["..."]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                path = f"{prefix}[{key}]"
            elif prefix:
                path = f"{prefix}.{key}"
            else:
                path = str(key)
            out.update(flatten_errors(value, path))
    elif isinstance(detail, list) and detail and all(not isinstance(d, (dict, list)) for d in detail):
        out[prefix or "non_field_errors"] = [str(d) for d in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                out.update(flatten_errors(value, f"{prefix}[{index}]"))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def _first_row(path: str) -> tuple[int | None, str]:
    """users[3].email -> (3, "email")."""
    if not path.startswith("users["):
        return None, ""
    index, _, rest = path[len("users["):].partition("]")
    if not index.isdigit():
        return None, ""
    return int(index), rest.lstrip(".")
