"""Admin lists of history (sync records, send logs, audit events) whose cost does not grow with the table.

Django's change list counts every matching row on each view and pages by
OFFSET over one ORDER BY; on tables of millions that is a full count and a
sort per page view. Here a page is read newest first, by id, without a count:

- The list is split into *partitions* that an index keeps in id order (a
  step and a state for sync records: `syncrecord_step_state` is
  (step, state, id); an audience for send logs; a workspace for audit
  events). Each partition gives at most `offset + page + 1` ids by a short
  backward index range scan, all in one statement, and the newest of them
  form the page. A list with no filter and no workspace scope is one
  partition: the primary key, backwards.
- The page shows "Newer" and "Older" instead of a page count, and how many
  rows it holds; an exact-match search (an external id) is one index
  lookup and is counted.

So a page view costs what it shows (and how deep it is paged), whatever the
history holds.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet

from audiences.bulk_sql import ids_of_ranges


def page_ids(queryset: QuerySet, partitions: list[dict] | None, *, offset: int, limit: int) -> list[int]:
    """The ids of rows offset..offset+limit (and one more, to tell whether an older page exists), newest first."""
    wanted = offset + limit + 1
    ordered = queryset.order_by("-pk").values_list("pk", flat=True)
    if partitions is None:
        return list(ordered[offset:wanted])
    if not partitions:
        return []
    found = ids_of_ranges(ordered, partitions, limit=wanted)
    found.sort(reverse=True)
    return found[offset:wanted]


class HistoryChangeList(ChangeList):
    """A change list paged newest first by id, without counting, partition by partition (see the module)."""

    def get_results(self, request):
        offset = (self.page_num - 1) * self.list_per_page  # `p` counts from 1
        partitions = None if self.query else self.model_admin.history_partitions(request, self)
        ids = page_ids(self.queryset, partitions, offset=offset, limit=self.list_per_page)
        self.has_older = len(ids) > self.list_per_page
        shown = ids[: self.list_per_page]
        # The page's rows by primary key alone: with the list's filters too, a planner may pick a filter's index.
        self.result_list = self.apply_select_related(
            self.model._default_manager.filter(pk__in=shown).order_by("-pk")
        )
        # An exact search is one index lookup: count it. Otherwise the page says what it holds.
        exact = self.query and all(field.startswith("=") for field in self.search_fields)
        self.counted = bool(exact)
        self.result_count = self.queryset.count() if exact else offset + len(shown)
        self.full_result_count = self.result_count
        self.show_full_result_count = False
        self.can_show_all = False
        self.multi_page = self.has_older or self.page_num > 1
        self.paginator = self.model_admin.get_paginator(request, self.result_list, self.list_per_page)
        self.first_shown = offset + 1 if shown else 0
        self.last_shown = offset + len(shown)
        self.newer_url = self.get_query_string({"p": self.page_num - 1}) if self.page_num > 1 else ""
        self.older_url = self.get_query_string({"p": self.page_num + 1}) if self.has_older else ""


class HistoryAdmin(admin.ModelAdmin):
    """Mixin for the admins of history tables: newest first by id, no counts, partitions from `history_partitions`."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # "Show counts" would count every filter's rows over the whole history
    list_per_page = 100

    def get_changelist(self, request, **kwargs):
        return HistoryChangeList

    def history_partitions(self, request, changelist) -> list[dict] | None:
        """Filters that split the list into index-ordered ranges (None: one range, the primary key)."""
        return None
