"""A Content-Security-Policy on every page: scripts from this site only, no inline script, no framing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.api_support import acme_api  # noqa: F401

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def assert_strict(response) -> None:
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert "'self'" in directives["script-src"]
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]


def inline_scripts(html: str) -> list[str]:
    """Script elements that run code written in the page (not a src, not a JSON data block)."""
    found = []
    for attributes, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S | re.I):
        if "src=" in attributes or "application/json" in attributes or "nonce=" in attributes:
            continue
        if body.strip():
            found.append(body.strip()[:80])
    return found


def test_the_sign_in_page_has_it(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert_strict(response)
    assert inline_scripts(response.content.decode()) == []


def test_the_admin_has_it(client, alice):
    client.force_login(alice)
    for path in ["/admin/", "/admin/audiences/canvas/", "/admin/audiences/canvas/add/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict(response)
        assert inline_scripts(response.content.decode()) == [], path


def test_the_api_docs_have_it_and_load_their_script_from_the_site(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert_strict(response)
    html = response.content.decode()
    assert inline_scripts(html) == []
    script = re.search(r'<script src="(/api/v1/docs/\?[^"]*script[^"]*)"', html).group(1)
    started = client.get(script.replace("&amp;", "&"))
    assert started.status_code == 200 and "SwaggerUIBundle" in started.content.decode()


def test_the_apis_answers_have_it(acme_api):
    assert_strict(acme_api.get("/api/v1/canvases/"))
    assert_strict(acme_api.get("/api/v1/no-such-thing/"))


def test_no_template_of_ours_runs_inline_code():
    for template in TEMPLATES.rglob("*.html"):
        html = template.read_text()
        assert inline_scripts(html) == [], template
        assert not re.search(r"\son[a-z]+\s*=\s*[\"']", html), f"an inline event handler in {template}"


def test_a_page_that_uses_a_nonce_gets_its_own_and_a_changed_policy_is_seen(rf, settings):
    from django.http import HttpResponse

    from project.csp import CSPMiddleware

    middleware = CSPMiddleware(lambda request: HttpResponse())
    plain, with_script = rf.get("/"), rf.get("/")
    for request in (plain, with_script):
        middleware.process_request(request)
    nonce = str(with_script.csp_nonce)  # as a template writing nonce="{{ request.csp_nonce }}" does
    assert f"'nonce-{nonce}'" in policy(middleware.process_response(with_script, HttpResponse()))["script-src"]
    assert not any(v.startswith("'nonce-") for v in policy(middleware.process_response(plain, HttpResponse()))["script-src"])

    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    later = rf.get("/")
    middleware.process_request(later)
    assert policy(middleware.process_response(later, HttpResponse())) == {"default-src": ["'none'"]}

