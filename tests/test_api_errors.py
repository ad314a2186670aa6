"""Every error under /api/ is the same JSON shape, with a message a developer can act on."""

import json

import pytest

from tests.api_support import _fresh_throttle_counts, acme_api, client_with_key, error_of  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_unknown_path_is_a_json_404(acme_api, method):
    response = getattr(acme_api, method)("/api/v1/no-such-thing/")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "not_found"
    assert "/api/v1/no-such-thing/" in error["message"]
    assert "/api/v1/schema/" in error["message"]


def test_an_unknown_path_is_a_json_404_without_a_key_too(db):
    response = client_with_key(None).get("/api/v1/canvases/abc/")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_a_missing_trailing_slash_is_pointed_out(acme_api):
    response = acme_api.get("/api/v1/canvases")
    assert response.status_code == 404
    assert "Did you mean /api/v1/canvases/" in error_of(response)["message"]


def test_an_unknown_id_names_what_was_not_found(acme_api):
    response = acme_api.get("/api/v1/canvases/424242/")
    assert response.status_code == 404
    assert error_of(response)["message"] == "No canvas 424242 in this workspace."
    assert acme_api.get("/api/v1/canvases/99999999999999999999999/").status_code == 404
    assert acme_api.get("/api/v1/steps/424242/metrics/").status_code == 404


def test_a_method_the_path_does_not_take_is_a_json_405(acme_api):
    response = acme_api.put("/api/v1/canvases/", {}, format="json")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]


def test_malformed_json_is_a_400_saying_so(acme_api):
    response = acme_api.generic("POST", "/api/v1/canvases/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in error_of(response)["message"]


def test_a_body_that_is_not_json_is_a_415(acme_api):
    response = acme_api.generic("POST", "/api/v1/canvases/", "name=x",
                                content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_a_body_over_the_limit_is_a_413_and_changes_nothing(acme_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"name": "x" * 2000})
    response = acme_api.generic("POST", "/api/v1/canvases/", body, content_type="application/json")
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert error["details"]["max_bytes"] == 1000
    assert acme_api.get("/api/v1/canvases/").json()["results"] == []


def test_too_many_requests_for_one_key_is_a_429_with_retry_after(acme_api, acme, settings):
    settings.API_THROTTLE_RATE = "3/min"
    for _ in range(3):
        assert acme_api.get("/api/v1/canvases/").status_code == 200
    response = acme_api.get("/api/v1/canvases/")
    assert response.status_code == 429
    error = error_of(response)
    assert error["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert f"{response['Retry-After']} seconds" in error["message"]

    # The budget is per key: another key of the same workspace is not slowed down.
    from tests.api_support import key_for

    assert client_with_key(key_for(acme)).get("/api/v1/canvases/").status_code == 200


def test_every_operation_documents_its_errors(db):
    schema = client_with_key(None).get("/api/v1/schema/?format=json").json()
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= 18
    for path, method, operation in operations:
        codes = set(operation["responses"])
        # Each error where it can happen, and only there.
        assert {"400", "401", "429"} <= codes, (method, path, codes)
        assert ("404" in codes) == ("{" in path), (method, path, codes)
        assert ({"413", "415"} <= codes) == ("requestBody" in operation), (method, path, codes)
        assert not ({"413", "415"} & codes) or "requestBody" in operation, (method, path, codes)
        # Every operation is refused to some API key scope (`entries` reads nothing, `read` writes nothing).
        assert "403" in codes, (method, path, codes)
        assert operation["x-key-scopes"] and "API key scopes:" in operation["description"], (method, path)
        assert operation["security"] == [{"ApiKey": []}], (method, path)
        for code in codes - {"200", "201", "202", "204"}:
            assert operation["responses"][code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    entries = schema["paths"]["/api/v1/canvases/{id}/entries/"]["post"]
    assert {"409", "422"} <= set(entries["responses"])
    users = schema["components"]["schemas"]["EntriesRequest"]["properties"]["users"]
    assert users["maxItems"] == 10000
    launch = schema["paths"]["/api/v1/canvases/{id}/launch/"]["post"]
    assert "409" in launch["responses"]
