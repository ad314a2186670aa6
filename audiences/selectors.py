"""Read-only queries shared by the admin, the API and the commands."""

from __future__ import annotations

from dataclasses import dataclass

from integrations.models import AdAccount
from integrations.pinterest.client import Audience as RemoteAudience
from integrations.services import with_pinterest

# Pinterest's audiences/list has no name filter, so a search reads pages of
# up to 250 and filters them here; this bounds the pages read per call.
MAX_PAGES_PER_SEARCH = 8


@dataclass(frozen=True)
class AudiencePage:
    items: list[RemoteAudience]
    next_bookmark: str | None


def pinterest_audiences_search(*, ad_account: AdAccount, search: str = "", bookmark: str | None = None,
                               limit: int = 25) -> AudiencePage:
    """Existing Pinterest audiences of an ad account whose name contains `search`, a page at a time.

    `next_bookmark` continues the search where this page stopped (None at the end).
    """
    needle = search.strip().lower()
    found: list[RemoteAudience] = []
    pages = 0
    while True:
        page = with_pinterest(
            ad_account.connection,
            lambda client: client.audiences_page(ad_account.pinterest_id, bookmark=bookmark, page_size=250 if needle else limit),
        )
        pages += 1
        found.extend(a for a in page.items if not needle or needle in a.name.lower())
        bookmark = page.bookmark
        if not bookmark or len(found) >= limit or pages >= MAX_PAGES_PER_SEARCH:
            # Items past `limit` on the last page read are dropped from this
            # answer only when not searching; with a search they are kept
            # (the page is still bounded by MAX_PAGES_PER_SEARCH * 250).
            return AudiencePage(found if needle else found[:limit], bookmark)
