"""The OpenAPI description: every operation documents the errors it can answer.

drf-spectacular documents only success responses unless told; clients and
fuzzers need the error shape too, so each operation gets the shared ones
(400, 401, 403, 404, 429, and 413/415 where there is a body) on top of those
its view declares (409, 422, 503).
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from audiences.api.errors import ErrorSerializer

ERROR_DESCRIPTIONS = {
    400: "The request is invalid; `details.fields` names each bad field (bulk rows as `users[i].field`).",
    401: "No API key, or the key is malformed, unknown or revoked.",
    403: "The caller is not allowed to use this API.",
    404: "No such object in the API key's workspace (or no such path).",
    409: "The object's state does not allow this now (see `error.code`).",
    413: "The request body is over the size limit.",
    415: "The body is not `application/json`.",
    422: "The Idempotency-Key was already used for a different request.",
    429: "Too many requests for this API key; wait `Retry-After` seconds.",
    503: "Pinterest is unavailable or asked us to slow down; wait `Retry-After` seconds.",
}


def error(code: int) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        # Below @extend_schema(responses=...), which overrides get_response_serializers.
        responses = super()._get_response_bodies(direction)
        codes = [400, 401, 403, 404, 429]
        if self.method in ("POST", "PUT", "PATCH"):
            codes += [413, 415]
        for code in codes:
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(error(code), str(code), direction=direction)
        return dict(sorted(responses.items()))

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
        return schema

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        parameters.append(
            OpenApiParameter(
                "Retry-After", OpenApiTypes.INT, OpenApiParameter.HEADER, response=[429, 503],
                description="Seconds to wait before trying again.",
            )
        )
        return parameters
