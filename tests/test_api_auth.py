"""Partners authenticate with workspace API keys; a missing, wrong or revoked key gets 401."""

import hashlib

import pytest

from integrations.api_keys import api_key_authenticate, api_key_create, api_key_revoke
from integrations.models import ApiKey
from tests.api_support import _fresh_throttle_counts, client_with_key, error_of  # noqa: F401

pytestmark = pytest.mark.django_db


def test_it_answers_401_without_a_key(acme):
    response = client_with_key(None).get("/api/v1/canvases/")
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "not_authenticated"
    assert "Authorization: Bearer" in error["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer pas_nope_0000", "Bearer nonsense", "Token abc", "Bearer", "Bearer a b"])
def test_it_answers_401_for_a_wrong_or_malformed_key(acme, header):
    client = client_with_key(None)
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/canvases/")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_a_revoked_key_gets_401_at_once(acme):
    api_key, plaintext = api_key_create(workspace=acme, name="old integration")
    client = client_with_key(plaintext)
    assert client.get("/api/v1/canvases/").status_code == 200

    api_key_revoke(api_key=api_key)

    response = client.get("/api/v1/canvases/")
    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]


def test_only_a_hash_of_the_key_is_stored(acme):
    api_key, plaintext = api_key_create(workspace=acme, name="crm")
    row = ApiKey.objects.get(pk=api_key.pk)
    assert row.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext.startswith(row.prefix + "_")
    assert len(plaintext) > 40
    stored = " ".join(str(v) for v in ApiKey.objects.filter(pk=api_key.pk).values().first().values())
    assert plaintext not in stored
    assert plaintext[len(row.prefix) + 1:] not in stored


def test_a_key_belongs_to_its_workspace_and_records_its_use(acme):
    api_key, plaintext = api_key_create(workspace=acme)
    assert api_key_authenticate(plaintext).workspace == acme
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None


def test_the_schema_and_docs_need_no_key(db):
    client = client_with_key(None)
    assert client.get("/api/v1/schema/").status_code == 200
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    # Swagger UI comes from drf-spectacular-sidecar's static files, not a CDN.
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn" not in html.lower()
