"""/api/v1/schema/ as a strict OpenAPI 3.0 toolchain reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from audiences.api import schema as api_schema
from audiences.models import Step
from tests.api_support import acme_api, error_of  # noqa: F401

SCHEMA = json.loads(Client().get("/api/v1/schema/?format=json").content)
COMPONENTS = SCHEMA["components"]["schemas"]
API_DIR = Path(api_schema.__file__).parent


def nodes(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from nodes(value)


def operation(path: str, method: str) -> dict:
    return SCHEMA["paths"][path][method]


def test_it_passes_openapi_spec_validator():
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV30SpecValidator

    assert SCHEMA["openapi"].startswith("3.0")
    validate(SCHEMA, cls=OpenAPIV30SpecValidator)


def test_drf_spectacular_has_nothing_to_warn_about(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))


def test_a_nullable_reference_is_a_form_that_allows_null():
    for node in nodes(SCHEMA):
        assert not ("allOf" in node and node.get("nullable")), node
        if node.get("nullable") and "type" not in node:
            assert {"$ref": "#/components/schemas/NullEnum"} in node["oneOf"], node
    assert COMPONENTS["NullEnum"] == {"enum": [None]}
    step, connection = COMPONENTS["Step"]["properties"], COMPONENTS["Connection"]["properties"]
    assert step["audience"]["oneOf"] == [{"$ref": "#/components/schemas/Audience"},
                                         {"$ref": "#/components/schemas/NullEnum"}]
    assert connection["pinterest_account"]["oneOf"] == [{"$ref": "#/components/schemas/PinterestAccount"},
                                                        {"$ref": "#/components/schemas/NullEnum"}]


def test_the_audience_choice_is_a_named_union():
    branches = [{"$ref": f"#/components/schemas/{name}"}
                for name in ("ExistingAudience", "NewAudience", "WorkspaceAudience")]
    assert COMPONENTS["AudienceChoice"]["oneOf"] == branches
    assert COMPONENTS["ExistingAudience"]["type"] == "string"
    assert COMPONENTS["NewAudience"]["required"] == ["new"]
    assert COMPONENTS["WorkspaceAudience"]["required"] == ["id"]
    for name in ("StepInputRequest", "PatchedStepInputRequest"):
        assert COMPONENTS[name]["properties"]["audience"]["oneOf"] == [
            {"$ref": "#/components/schemas/AudienceChoice"}, {"$ref": "#/components/schemas/NullEnum"}]
    users = COMPONENTS["EntriesRequest"]["properties"]["users"]
    assert users["items"] == {"$ref": "#/components/schemas/EntryUser"}
    # Nothing else is written inline as a union or an object with properties inside another schema.
    for name, component in COMPONENTS.items():
        for node in list(nodes(component))[1:]:
            assert "properties" not in node and "oneOf" not in node or "$ref" in str(node.get("oneOf")), (name, node)


def test_fixed_values_are_enums():
    audience = COMPONENTS["Audience"]["properties"]
    assert audience["status"] == {"$ref": "#/components/schemas/AudienceStatusEnum"}
    assert audience["source"] == {"$ref": "#/components/schemas/AudienceSourceEnum"}
    assert COMPONENTS["AudienceStatusEnum"]["enum"] == ["draft", "waiting", "ready"]
    assert COMPONENTS["AudienceSourceEnum"]["enum"] == ["new", "existing"]
    body = COMPONENTS["ErrorBody"]["properties"]
    assert body["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    assert body["details"] == {"$ref": "#/components/schemas/ErrorDetails"}
    details = COMPONENTS["ErrorDetails"]["properties"]
    assert {"row", "field", "problems", "fields"} <= set(details)
    assert details["fields"] == {"$ref": "#/components/schemas/FieldErrors"}
    assert details["problems"] == {"type": "array", "items": {"type": "string"},
                                   "description": details["problems"]["description"]}
    for parameter in operation("/api/v1/canvases/", "get")["parameters"]:
        if parameter["name"] == "status":
            assert parameter["schema"] == {"$ref": "#/components/schemas/CanvasStatusEnum"}


def test_every_error_code_the_api_answers_is_in_the_enum():
    from audiences.api.error_codes import DEFAULT_CODES, ERROR_CODES

    codes = set(DEFAULT_CODES.values())
    patterns = [r'\bcode="(\w+)"', r'\berror_code = "(\w+)"', r'error_response\(\s*"(\w+)"']
    for path in API_DIR.glob("*.py"):
        text = path.read_text()
        for pattern in patterns:
            codes |= set(re.findall(pattern, text))
    codes |= set(re.findall(r'return "(\w+)"', (API_DIR / "errors.py").read_text()))
    assert codes, "no codes found: the patterns no longer match errors.py"
    assert codes <= set(COMPONENTS["ErrorCode"]["enum"]), codes - set(COMPONENTS["ErrorCode"]["enum"])
    assert list(ERROR_CODES) == COMPONENTS["ErrorCode"]["enum"]


def test_response_headers_are_declared():
    entries = operation("/api/v1/canvases/{id}/entries/", "post")["responses"]
    assert entries["202"]["headers"]["Idempotent-Replayed"]["schema"] == {"type": "string", "enum": ["true"]}
    for path, item in SCHEMA["paths"].items():
        for method, op in item.items():
            for status in ("429", "503"):
                if status in op["responses"]:
                    header = op["responses"][status]["headers"]["Retry-After"]
                    assert header["required"] is True and header["schema"] == {"type": "integer"}, (path, method)


def test_errors_are_documented_only_where_they_can_happen():
    for path in ("/api/v1/canvases/{id}/launch/", "/api/v1/canvases/{id}/stop/",
                 "/api/v1/steps/{id}/retry-errored/"):
        op = operation(path, "post")
        assert "requestBody" not in op
        assert not {"413", "415"} & set(op["responses"]), path
    assert "404" not in operation("/api/v1/connection/", "get")["responses"]
    assert "404" not in operation("/api/v1/canvases/", "post")["responses"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [None, {}, []])
def test_adding_a_step_needs_a_body(acme_api, acme, body):
    from audiences import services

    op = operation("/api/v1/canvases/{id}/steps/", "post")
    assert op["requestBody"]["required"] is True
    assert COMPONENTS["StepInputRequest"]["minProperties"] == 1
    assert "minProperties" not in COMPONENTS["PatchedStepInputRequest"]

    canvas = services.canvas_create(workspace=acme, name="Win-back")
    url = f"/api/v1/canvases/{canvas.pk}/steps/"
    if body is None:
        response = acme_api.post(url)
    else:
        response = acme_api.post(url, body, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["details"]["fields"]
    assert not Step.objects.exists()
