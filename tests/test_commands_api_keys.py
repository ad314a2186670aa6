"""Staff create a workspace's API key with a command; it is printed once and works at once."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from integrations.models import ApiKey
from tests.api_support import _fresh_throttle_counts, client_with_key  # noqa: F401

pytestmark = pytest.mark.django_db


def test_it_prints_a_working_key_once(acme):
    out, err = StringIO(), StringIO()
    call_command("api_key_create", "--workspace", "acme", "--name", "CRM", stdout=out, stderr=err)
    plaintext = out.getvalue().strip()
    api_key = ApiKey.objects.get()
    assert plaintext.startswith(api_key.prefix + "_")
    assert (api_key.workspace, api_key.name) == (acme, "CRM")
    assert "shown only now" in err.getvalue()
    assert plaintext not in err.getvalue()
    assert client_with_key(plaintext).get("/api/v1/canvases/").status_code == 200


def test_an_unknown_workspace_is_an_error(db):
    with pytest.raises(CommandError, match="workspace_create nope"):
        call_command("api_key_create", "--workspace", "nope")
    assert not ApiKey.objects.exists()
