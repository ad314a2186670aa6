"""The overview a marketer starts the day with: which canvases need attention, and why, first."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audiences.services.overview import canvases_overview
from tests.marketer_support import dozen_canvases, sync_canvas

pytestmark = pytest.mark.slow


def card_names(page: str) -> list[str]:
    return re.findall(r'<section class="overview-canvas[^"]*"[^>]*>\s*<header>.*?<h2><a [^>]*>([^<]+)</a>', page, re.S)


def test_it_lists_the_canvases_needing_attention_first_with_their_reason(client, alice, ad_account):
    made = dozen_canvases(alice.memberships.get().workspace, ad_account)
    client.force_login(alice)

    page = client.get(reverse("admin:audiences_canvas_overview")).content.decode()

    names = card_names(page)
    assert len(names) == 12
    assert names[0] == "Lapsed buyers"  # errored users: a problem
    assert set(names[1:3]) == {"VIP preview", "Winter sale"}  # too small, quiet for a day: to check
    assert names[-1] == "Spring ideas"  # a draft: not live
    assert "7 errored users in step “Add to Lapsed buyers”." in page
    assert "is too small: 60 users sent; Pinterest cannot target fewer than about 100 matched users: it needs more users." in page
    assert "Nothing sent to Pinterest for a day." in page
    assert "3 of 12 canvases need attention; they are listed first." in page
    assert f'href="/admin/audiences/canvas/step/{made["errored"].steps.get().pk}/analytics/#errored-users"' in page
    assert "150 today" in page  # healthy canvases' synced users today


def test_it_reads_a_fixed_number_of_queries_whatever_the_canvases(alice, ad_account):
    workspace = alice.memberships.get().workspace
    sync_canvas(workspace, ad_account, "One")
    with CaptureQueriesContext(connection) as few:
        canvases_overview([workspace])
    for i in range(10):
        sync_canvas(workspace, ad_account, f"More {i}")
    with CaptureQueriesContext(connection) as many:
        assert len(canvases_overview([workspace])) == 11
    assert len(many.captured_queries) == len(few.captured_queries)


def test_another_workspace_sees_none_of_it(client, alice, charlie, ad_account):
    sync_canvas(alice.memberships.get().workspace, ad_account, "Acme only")
    client.force_login(charlie)
    page = client.get(reverse("admin:audiences_canvas_overview")).content.decode()
    assert "Acme only" not in page
    assert "No canvases yet." in page
