"""One paging style for every list: `{"results": [...], "next_cursor": "..."}`.

`next_cursor` is an opaque string, null on the last page; pass it back as
`?cursor=` for the next page. `page_size` is honoured on every list (a page
may hold fewer, never more).

Lists of this service's rows are DRF cursor pages over an explicit, unique
ordering (a cursor over a non-unique one skips rows). Pinterest's audiences
are paged by Pinterest's bookmarks, which a search reads several at a time;
their cursor (AudienceCursor) carries the bookmark the page started from and
how many matches of it were already given.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from audiences.bulk_sql import ids_of_ranges

NEXT_CURSOR_HELP = "Pass as `cursor` for the next page; null on the last page."
CURSOR_HELP = "`next_cursor` of the previous page; leave out for the first page."
INVALID_CURSOR = "The cursor is not valid: pass the `next_cursor` of a page you received, unchanged."


class IdCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    invalid_cursor_message = INVALID_CURSOR

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            cursor = False
        # DRF's decoding forgives much ("%%%" reads as the first page): only a cursor we gave is taken.
        token = request.query_params.get(self.cursor_query_param)
        if cursor is False or (token is not None and (cursor is None or self.encode_cursor(cursor) != token)):
            raise exceptions.ValidationError({"cursor": [self.invalid_cursor_message]})
        return cursor

    def encode_cursor(self, cursor) -> str:
        # DRF's token (rest_framework.pagination.CursorPagination.encode_cursor) without the URL around it.
        tokens = {}
        if cursor.offset != 0:
            tokens["o"] = str(cursor.offset)
        if cursor.reverse:
            tokens["r"] = "1"
        if cursor.position is not None:
            tokens["p"] = cursor.position
        return base64.b64encode(urlencode(tokens, doseq=True).encode("ascii")).decode("ascii")

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            raise exceptions.ValidationError(
                {"page_size": [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return super().get_page_size(request)

    def narrowed(self, request, queryset, partitions: list[dict]):
        """`queryset` cut to the rows this page can come from, read one index range per partition.

        DRF's cursor reads `WHERE id > position ORDER BY id LIMIT n` over the
        whole queryset; where no index serves that order (a step's records of
        every state), the database would sort all of them. Each partition
        (a state) is one index range in id order, so the first rows after the
        cursor of each, together, hold the page, whatever the history.
        """
        cursor = self.decode_cursor(request)
        wanted = (cursor.offset if cursor else 0) + self.get_page_size(request) + 1
        descending = self.ordering.startswith("-") != bool(cursor and cursor.reverse)
        ordered = queryset.order_by("-pk" if descending else "pk").values_list("pk", flat=True)
        if cursor and cursor.position is not None:
            ordered = ordered.filter(**{"pk__lt" if descending else "pk__gt": cursor.position})
        # The page's rows by primary key alone: with the list's filters too, a planner may walk a filter's index.
        return queryset.model._default_manager.filter(pk__in=ids_of_ranges(ordered, partitions, limit=wanted))

    def get_paginated_response(self, data):
        return Response({"results": data, "next_cursor": self.get_next_link()})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "next_cursor"],
            "properties": {
                "results": schema,
                "next_cursor": {"type": "string", "nullable": True, "description": NEXT_CURSOR_HELP},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query", "description": CURSOR_HELP,
             "schema": {"type": "string"}},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "description": f"Results per page (default {self.page_size}).",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size}},
        ]


class NewestFirstCursorPagination(IdCursorPagination):
    ordering = "-id"
    page_size = 50


# Pinterest reads at most this many audiences for one search (selectors.MAX_PAGES_PER_SEARCH pages of 250).
MAX_SKIP = 10_000


@dataclass(frozen=True)
class AudienceCursor:
    """Where a page of Pinterest audiences starts: Pinterest's bookmark, matches of it already given, the search."""

    bookmark: str | None = None
    skip: int = 0
    search: str = ""

    def encode(self) -> str:
        raw = json.dumps({"b": self.bookmark, "s": self.skip, "q": self.search}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> AudienceCursor:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            bookmark, skip, search = data["b"], data["s"], data["q"]
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
            raise exceptions.ValidationError({"cursor": [INVALID_CURSOR]}) from None
        if not (
            (bookmark is None or (isinstance(bookmark, str) and bookmark))
            and type(skip) is int and 0 <= skip <= MAX_SKIP
            and isinstance(search, str)
        ):
            raise exceptions.ValidationError({"cursor": [INVALID_CURSOR]})
        return cls(bookmark, skip, search)
