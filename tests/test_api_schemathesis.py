"""Schemathesis drives every operation of /api/v1/schema/: no 5xx, and every answer matches the schema.

The schema is loaded eagerly from the WSGI app (schemathesis' lazy pytest
loader breaks on pytest 9.2). Requests carry a valid key for a workspace
with a Pinterest connection (the sandbox), a launched canvas and a draft
one; half of the generated ids are swapped for ids of those real objects,
so the fuzzing reaches past 404s into validation and the services.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from audiences import services
from project.wsgi import application
from tests.api_support import _fresh_throttle_counts, key_for  # noqa: F401

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)


@pytest.fixture
def in_test_transaction():
    """Keep the WSGI handler from closing the test's database connection after each request.

    Django's test client does the same; schemathesis calls the WSGI app directly.
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# The fuzzer sends hundreds of requests a minute with one key. The API's own limit is raised
# for it (not switched off, so the throttle still runs on every request), far enough that no
# example is answered 429 instead of reaching the operation; the world fixture checks none was.
FUZZ_THROTTLE_RATE = "1000000/min"


@pytest.fixture
def world(acme, ad_account, add_canvas, settings, in_test_transaction):
    settings.API_THROTTLE_RATE = FUZZ_THROTTLE_RATE
    draft = services.canvas_create(workspace=acme, name="Draft for the fuzzer")
    services.step_create_delay(canvas=draft, seconds=60)
    steps = [s.pk for s in add_canvas.steps.all()] + [s.pk for s in draft.steps.all()]
    statuses: list[int] = []
    yield {
        "key": key_for(acme, "fuzzer"),
        "canvases": [add_canvas.pk, draft.pk],
        "steps": steps,
        "ad_account": ad_account.pinterest_id,
        "statuses": statuses,
    }
    assert statuses, "the operation was never called"
    assert 429 not in statuses, "the API's rate limit answered instead of the operation"


def real_id(path: str, generated, world):
    """An id of a real object of the right kind for half the generated integers."""
    if path.startswith("/api/v1/ad-accounts/"):
        return world["ad_account"] if hash(str(generated)) % 2 == 0 else generated
    if not isinstance(generated, int) or generated % 2:
        return generated
    pool = world["canvases"] if path.startswith("/api/v1/canvases/") else world["steps"]
    return pool[(generated // 2) % len(pool)]


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_the_api_keeps_its_schema(case, world):
    if case.path_parameters and "id" in case.path_parameters:
        case.path_parameters["id"] = real_id(case.path, case.path_parameters["id"], world)
    if (case.headers or {}).get("Authorization", "").startswith("Bearer"):
        # Where the case means to authenticate, with a real key; cases that leave the header
        # out or spoil it on purpose go as generated and must get 401.
        case.headers["Authorization"] = f"Bearer {world['key']}"
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
    world["statuses"].append(response.status_code)
