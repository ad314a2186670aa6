"""The OpenAPI description (3.0): what a strict validator or a client generator needs.

- Every operation documents the errors it can answer, and only those: 400,
  401 and 429 everywhere; 403 where an API key scope refuses it (each
  operation says which scopes may call it, in its description and in
  `x-key-scopes`); 404 where the path has an id; 413 and 415 where there is
  a request body; 409, 422 and 503 where its view declares them.
  Errors have one typed shape (`Error`, `ErrorBody`, `ErrorCode`, `ErrorDetails`).
- Response headers are declared: `Retry-After` on 429 and 503.
- A POST with a body requires it.
- `postprocess` (a SPECTACULAR_SETTINGS hook) gives the schema the forms strict
  3.0 tools accept: a nullable reference is `oneOf: [{$ref}, {$ref: NullEnum}]`
  (drf-spectacular writes `allOf: [{$ref}]` with `nullable: true`, which under
  OpenAPI 3.0.3 does not allow null); unions and objects written inline get
  component names (`AudienceChoice`, `EntryUser`), so generated clients have
  named models rather than `...Type1` / `...Item`; query parameters whose
  values are an enum of a component refer to it.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from audiences.api.error_codes import ERROR_CODES
from audiences.api.permissions import key_operation
from audiences.api.serializers import AUDIENCE_REF_SCHEMA
from audiences.api.serializers_sync import ENTRY_USER_SCHEMA
from audiences.api.serializers_trust import AUDIT_DETAILS_SCHEMA, SUPPRESSION_ENTRY_SCHEMA
from integrations import roles

ERROR_DESCRIPTIONS = {
    400: "The request is invalid; `details.fields` names each bad field (bulk rows as `users[i].field`, "
         "with `details.row` and `details.field`).",
    401: "No API key, or the key is malformed, unknown or revoked.",
    403: "The API key's scope does not allow this operation (`forbidden`; `details.required_scopes`). "
         "Nothing was changed.",
    404: "No such object in the API key's workspace.",
    409: "The object's state does not allow this now (see `error.code`).",
    413: "The request body is over the size limit (`details.max_bytes`).",
    415: "The body is not `application/json`.",
    422: "The Idempotency-Key was already used for a different request.",
    429: "Too many requests for this API key; wait `Retry-After` seconds.",
    503: "Pinterest is unavailable or asked us to slow down; wait `Retry-After` seconds.",
}

# Schemas written by hand that are components of their own; `ref(name)` points at one.
COMPONENTS: dict[str, dict] = {
    "ErrorCode": {
        "type": "string",
        "enum": list(ERROR_CODES),
        "description": "Stable, machine-readable; the HTTP status says the class of error.\n\n"
        + "\n".join(f"* `{code}` - {status}: {meaning}" for code, (status, meaning) in ERROR_CODES.items()),
    },
    "FieldErrors": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "description": "Path of each bad field (`name`, `users[3].email`, `non_field_errors`) → its messages.",
    },
    "ErrorDetails": {
        "type": "object",
        "description": "What the code needs; which properties appear depends on `code`.",
        "properties": {
            "fields": {"$ref": "#/components/schemas/FieldErrors"},
            "more": {"type": "integer", "description": "`invalid`: problems left out of `fields` (it holds 50)."},
            "row": {"type": "integer", "description": "`invalid` on a bulk entry: index of the first bad user."},
            "field": {"type": "string", "description": "`invalid` on a bulk entry: the bad field of that user."},
            "problems": {"type": "array", "items": {"type": "string"},
                         "description": "`launch_refused`: every reason the canvas cannot be launched."},
            "max_bytes": {"type": "integer", "description": "`payload_too_large`: the largest body accepted."},
            "idempotency_key": {"type": "string", "description": "`idempotency_key_reused`: the key."},
            "scope": {"type": "string", "description": "`forbidden`: the API key's scope."},
            "required_scopes": {"type": "array", "items": {"type": "string"},
                                "description": "`forbidden`: the scopes that allow the operation."},
        },
    },
    "NullEnum": {"enum": [None]},
}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


@extend_schema_field(ref("ErrorCode"))
class _ErrorCodeField(serializers.CharField):
    pass


@extend_schema_field(ref("ErrorDetails"))
class _ErrorDetailsField(serializers.DictField):
    pass


class ErrorBodySerializer(serializers.Serializer):
    code = _ErrorCodeField()
    message = serializers.CharField(help_text="What went wrong and what to do about it.")
    details = _ErrorDetailsField(required=False)

    class Meta:
        ref_name = "ErrorBody"


class ErrorSerializer(serializers.Serializer):
    """`{"error": {"code", "message", "details"}}`: every error the API answers."""

    error = ErrorBodySerializer()

    class Meta:
        ref_name = "Error"


def error(code: int) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        # Below @extend_schema(responses=...), which overrides get_response_serializers.
        responses = super()._get_response_bodies(direction)
        codes = [400, 401, 429]
        if self._key_scopes() != list(roles.Scope.values):
            codes.append(403)
        if "{" in self.path:
            codes.append(404)
        if self._has_request_body():
            codes += [413, 415]
        for code in codes:
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(error(code), str(code), direction=direction)
        return dict(sorted(responses.items()))

    def _key_scopes(self) -> list[str]:
        """The API key scopes that may call this operation (audiences.api.permissions.KeyScopeAllows)."""
        return roles.scopes_allowing(key_operation(self.view, self.method))

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return operation
        scopes = self._key_scopes()
        operation["x-key-scopes"] = scopes
        sentence = f"API key scopes: {', '.join(f'`{scope}`' for scope in scopes)}."
        operation["description"] = f"{operation['description']}\n\n{sentence}" if operation.get("description") \
            else sentence
        return operation

    def _has_request_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body is not None and self.method == "POST":
            # A POST that takes a body needs one (an empty POST to .../steps/ is refused with 400).
            body["required"] = True
        return body

    def _get_parameters(self):
        parameters = super()._get_parameters()
        blank = getattr(self.view, "blank_query_params", ())
        for parameter in parameters:
            if parameter["in"] == "query" and parameter["name"] in blank:
                parameter["allowEmptyValue"] = True
        return parameters

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and getattr(serializer, "reject_unknown_fields", False):
            schema["additionalProperties"] = False
        min_properties = getattr(serializer, "min_properties", 0)
        if direction == "request" and min_properties and not serializer.partial:
            schema["minProperties"] = min_properties
        return schema

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        parameters.append(
            OpenApiParameter(
                "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[429, 503], required=True,
                description="Seconds to wait before trying again.",
            )
        )
        return parameters


# --- Postprocessing ------------------------------------------------------------------------------------


def named_schemas() -> list[tuple[str, dict, list[str]]]:
    """(component name, schema written inline in the serializers, names of its oneOf branches)."""
    return [
        ("AudienceChoice", AUDIENCE_REF_SCHEMA, ["ExistingAudience", "NewAudience", "WorkspaceAudience"]),
        ("EntryUser", ENTRY_USER_SCHEMA, []),
        ("SuppressionEntry", SUPPRESSION_ENTRY_SCHEMA, []),
        ("AuditDetails", AUDIT_DETAILS_SCHEMA, []),
    ]


AUDIENCE_CHOICE_DESCRIPTION = (
    "The audience of an Audience Sync step: an existing Pinterest audience of the step's ad account "
    '(`ExistingAudience`, its Pinterest id), a new one (`NewAudience`, `{"new": "name"}`), or an audience '
    'this workspace already uses in a step (`WorkspaceAudience`, `{"id": n}`).'
)
# Keys drf-spectacular adds beside a field's own schema.
_FIELD_META = ("nullable", "description", "readOnly", "writeOnly", "default", "title")


def postprocess(result: dict, generator, request, public) -> dict:
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: named unions and objects, nullable refs, enum refs."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    added: dict[str, dict] = dict(COMPONENTS)
    named = []
    for name, inline, branch_names in named_schemas():
        if branch_names:
            for branch_name, branch in zip(branch_names, inline["oneOf"], strict=True):
                added[branch_name] = dict(branch)
            component = {"oneOf": [ref(n) for n in branch_names]}
            if name == "AudienceChoice":
                component["description"] = AUDIENCE_CHOICE_DESCRIPTION
        else:
            component = dict(inline)
        added[name] = component
        named.append((name, inline))

    def rewrite(node):
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if not isinstance(node, dict):
            return node
        for name, inline in named:
            if {k: v for k, v in node.items() if k not in _FIELD_META} == inline:
                return _nullable_ref(name, node)
        all_of = node.get("allOf")
        if node.get("nullable") and isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
            rest = {k: v for k, v in node.items() if k not in ("allOf", "nullable")}
            return {"oneOf": [all_of[0], ref("NullEnum")], "nullable": True, **rest}
        return {key: rewrite(value) for key, value in node.items()}

    result["paths"] = rewrite(result.get("paths", {}))
    for name in list(schemas):
        schemas[name] = rewrite(schemas[name])
    for name, component in added.items():
        schemas.setdefault(name, component)
    _enum_parameters_by_ref(result, schemas)
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result


def _nullable_ref(name: str, node: dict) -> dict:
    meta = {k: node[k] for k in ("description", "readOnly", "writeOnly") if k in node}
    if node.get("nullable"):
        return {"oneOf": [ref(name), ref("NullEnum")], "nullable": True, **meta}
    if meta:
        # A $ref has no siblings in OpenAPI 3.0.
        return {"allOf": [ref(name)], **meta}
    return ref(name)


def _enum_parameters_by_ref(result: dict, schemas: dict) -> None:
    """A query parameter taking the values of an enum component refers to it (one type in clients)."""
    enums = {frozenset(s["enum"]): name for name, s in schemas.items() if s.get("type") == "string" and "enum" in s}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                name = enums.get(frozenset(schema.get("enum", ())))
                if name and parameter.get("in") == "query":
                    parameter["schema"] = ref(name)
