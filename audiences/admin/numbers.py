"""Counts in the admin's lists written like everywhere else on the marketer's pages: "10,000", not "10000".

Django's lists print an integer field as it is unless USE_THOUSAND_SEPARATOR
is on, and that setting would also print ids inside templates' URLs and
commands with commas; a column of counts asks for the separator itself.
"""

from __future__ import annotations

from django.contrib import admin


def count_column(field: str, description: str):
    """A list_display column showing `field` with thousands separated ("—" when unknown), sortable by it."""

    @admin.display(description=description, ordering=field)
    def column(self, obj):
        value = getattr(obj, field)
        return "—" if value is None else f"{value:,}"

    column.__name__ = f"{field}_count"
    return column
