"""No link a role cannot open: every link the admin shows a viewer, a marketer or a workspace admin opens for them.

For each role the test starts at /admin/ and follows every link under
/admin/ and /pinterest/ that the pages it reaches show (GET only, each kind
of page once), and fails on any that answers 403 (a link to something the
role may not do), 404 (a link to another workspace's object, or to nothing),
405 (a link to what only a form may ask) or 500. Signing out is not
followed; delete and disconnect links are (their GET only asks first). Acme holds one of everything (a
connected Pinterest account, a live canvas with an Audience Sync step and
users, a draft, an API key, alerts, an import job, a segment); Globex has a
canvas of its own that none of them may see a link to.
"""

from __future__ import annotations

import html
import re
from collections import deque
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.roles_support import world  # noqa: F401

pytestmark = pytest.mark.django_db

MAX_PAGES = 400
CRAWLED = ("/admin/", "/pinterest/")
# Signing out is not followed. Delete and disconnect links are: their GET only asks first (a page of its own),
# and connecting Pinterest is a form (POST), never a link.
NOT_FOLLOWED = re.compile(r"/logout/")
HREF = re.compile(r'href="([^"#]+)')


@pytest.fixture
def everything(world, globex, bob, settings, tmp_path):
    """Acme's world with an import job and a segment; Globex with a canvas of its own."""
    from audiences import services
    from audiences.services import segments

    settings.IMPORTS_ROOT = tmp_path / "imports"
    uploader = Client()
    uploader.force_login(bob)
    csv = SimpleUploadedFile("users.csv", b"external_id,email\nu1,u1@example.org\n", "text/csv")
    assert uploader.post(reverse("admin:audiences_canvas_upload", args=[world.live.pk]),
                         {"users_csv": csv}).status_code == 302
    segments.segment_create(step=world.step, name="Loyal buyers")
    services.canvas_create(workspace=globex, name="Globex journey")
    return world


def kind_of(url: str) -> str:
    """One page of each kind: the path and the names of its query's parameters (not their values)."""
    parts = urlsplit(url)
    return parts.path + "?" + "&".join(sorted({name for name, _ in parse_qsl(parts.query)}))


def crawl(client: Client) -> tuple[dict[str, int], dict[str, set[str]]]:
    """{url: status} of every page reached from /admin/, and {kind of page: the pages that link to it}."""
    statuses, linked_from = {}, {kind_of("/admin/"): {"(start)"}}
    queue = deque(["/admin/"])
    while queue and len(statuses) < MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        statuses[url] = response.status_code
        targets = []
        if response.status_code in (301, 302):
            targets = [response["Location"]]
        elif response.status_code == 200 and "html" in response.get("Content-Type", ""):
            targets = [html.unescape(href) for href in HREF.findall(response.content.decode())]
        for target in targets:
            parts = urlsplit(target)
            if parts.netloc not in ("", "testserver") or not parts.path.startswith(CRAWLED):
                continue
            if NOT_FOLLOWED.search(parts.path):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if kind_of(target) not in linked_from:
                linked_from[kind_of(target)] = set()
                queue.append(target)
            linked_from[kind_of(target)].add(url)
    return statuses, linked_from


@pytest.mark.parametrize("username", ["vera", "bob", "alice"])
def test_every_link_a_member_is_shown_opens_for_them(everything, vera, bob, alice, username):
    client = Client(raise_request_exception=False)
    client.force_login({"vera": vera, "bob": bob, "alice": alice}[username])

    statuses, linked_from = crawl(client)

    assert len(statuses) > 30, statuses  # the crawl reached the workspace's pages
    broken = {url: f"{status}, linked from {sorted(linked_from[kind_of(url)])}" for url, status in statuses.items()
              if status in (403, 404, 405) or status >= 500}
    assert broken == {}
    assert not any("/login/" in url for url in statuses), "a link led to the sign-in page"


def test_a_read_only_link_to_the_workspace_shows_only_to_who_may_open_it(everything, vera, superuser):
    audience = everything.step.audience
    page = reverse("admin:audiences_audience_change", args=[audience.pk])
    workspace_page = reverse("admin:integrations_workspace_change", args=[everything.acme.pk])

    client = Client()
    client.force_login(vera)
    as_viewer = client.get(page).content.decode()
    client.force_login(superuser)
    as_superuser = client.get(page).content.decode()

    assert workspace_page not in as_viewer and "Acme" in as_viewer
    assert f'<a href="{workspace_page}">Acme</a>' in as_superuser
