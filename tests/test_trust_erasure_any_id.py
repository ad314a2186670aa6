"""An external id with any characters ("/" included) can be erased through the API, as it could be entered."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from audiences import services
from audiences.models import AudienceMember, DelayRecord, PrivacyRequest, SyncRecord
from tests.api_support import acme_api  # noqa: F401

pytestmark = pytest.mark.django_db

ODD_IDS = ["team/alice", "team/", "/leading", "a/b/c", "with space", "per%cent", "q?x=1#frag", "dot/../dot", "ünï/cödé"]


def held(external_id: str) -> bool:
    return any(model.objects.filter(external_id=external_id).exists()
               for model in (SyncRecord, DelayRecord, AudienceMember, PrivacyRequest))


@pytest.mark.parametrize("external_id", ODD_IDS)
def test_it_erases_a_user_whose_id_holds_any_character(sandbox, acme, acme_api, add_canvas, external_id):
    entered = acme_api.post(f"/api/v1/canvases/{add_canvas.pk}/entries/",
                            {"users": [{"external_id": external_id, "email": "alice@example.com"},
                                       {"external_id": "bob", "email": "bob@example.com"}]}, format="json")
    assert entered.status_code in (200, 201, 202), entered.content
    assert held(external_id)

    response = acme_api.delete(f"/api/v1/users/{quote(external_id, safe='')}/")

    assert response.status_code == 202, response.content
    services.privacy_requests_process()
    assert acme_api.get(f"/api/v1/privacy-requests/{response.json()['id']}/").json()["status"] == "done"
    assert not held(external_id)
    assert held("bob")  # only her


def test_an_unknown_id_with_a_slash_answers_the_apis_404(sandbox, acme, acme_api, add_canvas):
    response = acme_api.delete("/api/v1/users/team%2Fnobody/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "No endpoint" not in response.json()["error"]["message"]
