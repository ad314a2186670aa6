"""SQL fragments for raw statements, and for statements over thousands of values at once.

Compiling one placeholder per value (what `__in` does) is slow for the
1,900 to 10,000 values a batch or an entry call carries, and SQLite caps
the number of parameters; these pass the values as one parameter instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import connection


def table(model) -> str:
    """The model's table name, quoted for raw SQL."""
    return connection.ops.quote_name(model._meta.db_table)


def db_datetime(value):
    """A datetime as the database driver takes it in raw SQL (SQLite stores text)."""
    return connection.ops.adapt_datetimefield_value(value)


def python_datetime(value) -> datetime | None:
    """A datetime column read by raw SQL, aware as Django reads it (SQLite returns the UTC text `db_datetime` wrote)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def in_values(column: str, values: Sequence) -> tuple[str, object]:
    """`column IN (values)` as SQL and its single parameter."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", list(values)
    return f"{column} IN (SELECT value FROM json_each(%s))", json.dumps(list(values))
