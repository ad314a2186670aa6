"""Every `error.code` the API answers, with its HTTP status and meaning: the one table.

The exception handler (audiences.api.errors) takes from it the code an
error gets when nothing names a more precise one (the first code listed for
its status); the OpenAPI description (audiences.api.schema) lists it as the
`ErrorCode` enum, so a program can branch on every code it may meet.
"""

# code -> (HTTP status, what it means). The first code of each status is that status's default.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "invalid": (400, "the request is invalid; see `details.fields`."),
    "malformed_json": (400, "the body is not valid JSON."),
    "not_authenticated": (401, "no API key was sent."),
    "authentication_failed": (401, "the API key is malformed, unknown or revoked."),
    "permission_denied": (403, "the caller may not use this API."),
    "forbidden": (403, "the API key's scope does not allow this operation; nothing was changed."),
    "not_found": (404, "no such object in this workspace, or no such path."),
    "method_not_allowed": (405, "the path does not take this method."),
    "not_acceptable": (406, "the API answers only application/json."),
    "conflict": (409, "the object's state does not allow this now."),
    "not_allowed": (409, "the canvas's or step's state does not allow this (e.g. changing an active canvas)."),
    "launch_refused": (409, "the canvas cannot be launched; `details.problems` lists why."),
    "connection_unusable": (409, "the workspace's Pinterest connection cannot be used; reconnect it in the admin."),
    "not_a_sync_step": (409, "a delay step has no sync records."),
    "payload_too_large": (413, "the body is over the size limit; `details.max_bytes` says it."),
    "unsupported_media_type": (415, "the body is not application/json."),
    "unprocessable": (422, "the request cannot be processed."),
    "idempotency_key_reused": (422, "the Idempotency-Key was used for a different request."),
    "throttled": (429, "too many requests for this API key; wait Retry-After seconds."),
    "server_error": (500, "something went wrong on our side; the request changed nothing."),
    "unavailable": (503, "a service this request needs is unavailable; wait Retry-After seconds."),
    "pinterest_unavailable": (503, "Pinterest is unavailable or asked us to slow down; wait Retry-After seconds."),
}

# HTTP status -> the code of an error that names none.
DEFAULT_CODES: dict[int, str] = {}
for _code, (_status, _meaning) in ERROR_CODES.items():
    DEFAULT_CODES.setdefault(_status, _code)
