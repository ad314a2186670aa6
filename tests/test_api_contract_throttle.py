"""The API's rate per key is one count, shared by every web process (settings.API_THROTTLE_RATE).

The throttle counts in a table of the database, or in Redis when REDIS_URL
is set. Two cache clients, and several processes at once, see one count,
and never let more requests through than the rate.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.core.cache import caches
from rest_framework.test import APIRequestFactory

from audiences.api.authentication import ApiClient
from audiences.api.models import ApiKeyRate
from audiences.api.throttling import ApiKeyRateThrottle
from integrations.api_keys import api_key_create
from tests.api_support import _fresh_throttle_counts, client_with_key, error_of, key_for  # noqa: F401
from tests.process_support import database_url_for_another_process

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db

# Rates per day where requests are made in real time: a test that straddled a minute's edge would see
# the last minute's count fade and let one more through, as the sliding window should.


def allowed(throttle_cache, api_key, times: int, *, at: float | None = None) -> list[bool]:
    """`times` requests of one key through a throttle that counts in `throttle_cache` (at time `at`)."""
    answers = []
    for _ in range(times):
        throttle = ApiKeyRateThrottle()
        throttle.cache = throttle_cache
        if at is not None:
            throttle.timer = lambda: at
        request = APIRequestFactory().get("/api/v1/canvases/")
        request.user = ApiClient(api_key)
        answers.append(throttle.allow_request(request, view=None))
    return answers


def test_two_clients_share_a_keys_count(settings, acme):
    backend = "redis.RedisCache" if os.environ.get("REDIS_URL") else "db.DatabaseCache"
    assert settings.CACHES["default"]["BACKEND"] == f"django.core.cache.backends.{backend}"
    settings.API_THROTTLE_RATE = "3/day"
    api_key, _ = api_key_create(workspace=acme, name="shared")
    # Two clients of the cache, as two web processes each have.
    first, second = caches.create_connection("default"), caches.create_connection("default")
    assert first is not second
    assert allowed(first, api_key, 2) == [True, True]
    assert allowed(second, api_key, 2) == [True, False]
    assert allowed(first, api_key, 1) == [False]


def test_it_counts_in_redis_when_redis_url_is_set():
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/6"}
    code = "from django.conf import settings; c = settings.CACHES['default']; print(c['BACKEND'], c['LOCATION'])"
    out = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["django.core.cache.backends.redis.RedisCache", "redis://127.0.0.1:6379/6"]


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="set REDIS_URL to a Redis database the test may use")
def test_two_redis_clients_share_a_keys_count(settings, acme):
    from django.core.cache.backends.redis import RedisCache

    settings.API_THROTTLE_RATE = "3/day"
    api_key, _ = api_key_create(workspace=acme, name="shared")
    location = os.environ["REDIS_URL"]
    first = RedisCache(location, {"KEY_PREFIX": "throttle-test"})
    second = RedisCache(location, {"KEY_PREFIX": "throttle-test"})
    try:
        assert allowed(first, api_key, 2) == [True, True]
        assert allowed(second, api_key, 2) == [True, False]
    finally:
        first.delete(ApiKeyRateThrottle.cache_format % {"scope": "api_key", "ident": api_key.prefix})


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="set REDIS_URL to a Redis database the test may use")
def test_with_redis_the_api_counts_in_redis_not_the_database(settings, acme):
    settings.API_THROTTLE_RATE = "3/day"
    api_key, plaintext = api_key_create(workspace=acme, name="redis")
    api = client_with_key(plaintext)
    assert [api.get("/api/v1/canvases/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert not ApiKeyRate.objects.exists()
    cache = caches["default"]
    key = cache.make_and_validate_key(ApiKeyRateThrottle.cache_format % {"scope": "api_key", "ident": api_key.prefix})
    _window, current, previous = cache._cache.get_client(key).get(key).decode().split(":")
    assert (int(current), int(previous)) == (3, 0)


def test_without_redis_the_api_counts_in_the_database(settings, acme):
    if os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL is set: the count is in Redis")
    settings.API_THROTTLE_RATE = "3/day"
    api_key, plaintext = api_key_create(workspace=acme, name="database")
    api = client_with_key(plaintext)
    assert [api.get("/api/v1/canvases/").status_code for _ in range(4)] == [200, 200, 200, 429]
    row = ApiKeyRate.objects.get(key__endswith=api_key.prefix)
    assert (row.current, row.previous) == (3, 0)


CHILD = textwrap.dedent("""
    import sys
    import django
    django.setup()
    from rest_framework.test import APIClient
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + sys.argv[1])
    print(" ".join(str(client.get("/api/v1/canvases/").status_code) for _ in range(2)))
""")


@pytest.mark.django_db(transaction=True)
def test_two_web_processes_share_a_keys_count(settings, acme):
    url = database_url_for_another_process()
    settings.API_THROTTLE_RATE = "3/day"
    key = key_for(acme, "two processes")
    api = client_with_key(key)
    assert [api.get("/api/v1/canvases/").status_code for _ in range(2)] == [200, 200]

    # The same database and, when set, the same Redis: what two web processes of one deployment share.
    env = {**os.environ, "DATABASE_URL": url, "API_THROTTLE_RATE": "3/day"}
    child = subprocess.run([sys.executable, "-c", CHILD, key], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr[-2000:]
    # The other process had one request left of the three, not three of its own.
    assert child.stdout.split() == ["200", "429"]
    refused = api.get("/api/v1/canvases/")
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "throttled"
    assert int(refused["Retry-After"]) >= 1


RACER = textwrap.dedent("""
    import sys
    import time
    import django
    django.setup()
    from rest_framework.test import APIClient
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + sys.argv[1])
    client.get("/api/v1/")  # imports and connections before the start, not in the race
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    print(" ".join(str(client.get("/api/v1/canvases/").status_code) for _ in range(int(sys.argv[3]))))
""")


@pytest.mark.django_db(transaction=True)
def test_processes_racing_for_the_last_places_get_exactly_the_rate(settings, acme):
    url = database_url_for_another_process()
    key = key_for(acme, "racers")
    env = {**os.environ, "DATABASE_URL": url, "API_THROTTLE_RATE": "5/day"}
    start = time.time() + 6
    racers = [subprocess.Popen([sys.executable, "-c", RACER, key, str(start), "4"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    answers = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err[-2000:]
        answers += out.split()
    # Sixteen requests at once from four processes: five let through, whoever got them.
    assert sorted(answers) == ["200"] * 5 + ["429"] * 11


MINUTE = 60 * 29_000_000  # a whole minute, so that offsets below are seconds into it


def test_a_burst_at_the_end_of_a_minute_still_counts_in_the_next(settings, acme):
    settings.API_THROTTLE_RATE = "4/min"
    api_key, _ = api_key_create(workspace=acme, name="edge")
    cache = caches["default"]
    assert allowed(cache, api_key, 5, at=MINUTE + 59.5) == [True, True, True, True, False]
    # A second later a new minute starts, but the last minute's four are still almost all in the window.
    assert allowed(cache, api_key, 2, at=MINUTE + 60.5) == [True, False]
    # Half-way through it, half of them have faded: 4 x 0.5 + 1 leaves room for one more.
    assert allowed(cache, api_key, 2, at=MINUTE + 90) == [True, False]
    # Two minutes on, nothing of the burst is left.
    assert allowed(cache, api_key, 5, at=MINUTE + 180) == [True, True, True, True, False]


def test_a_refused_request_is_told_when_one_more_fits(settings, acme):
    settings.API_THROTTLE_RATE = "4/min"
    api_key, _ = api_key_create(workspace=acme, name="wait")
    cache = caches["default"]
    assert allowed(cache, api_key, 4, at=MINUTE + 10) == [True] * 4
    throttle = ApiKeyRateThrottle()
    throttle.cache, throttle.timer = cache, lambda: MINUTE + 10
    request = APIRequestFactory().get("/api/v1/canvases/")
    request.user = ApiClient(api_key)
    assert throttle.allow_request(request, view=None) is False
    # Four in this minute: no room before the next one (50 s), where they start to fade.
    assert throttle.wait() == 51
    throttle.timer = lambda: MINUTE + 61
    assert throttle.allow_request(request, view=None) is True
    # 4 x (1 - 1/60) + 1 is over the rate; 4 x (1 - 16/60) + 1 is not.
    assert throttle.allow_request(request, view=None) is False
    assert throttle.wait() == 15
    throttle.timer = lambda: MINUTE + 76
    assert throttle.allow_request(request, view=None) is True
