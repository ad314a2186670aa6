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


def table_by_id(model) -> str:
    """`table(model)` for a statement that finds its rows by id and tests other conditions on them.

    SQLite's planner has no statistics: given `state = ...` besides the ids, it
    walked that column's index over every such row (a whole backlog) to test
    each against the ids. NOT INDEXED leaves it the rowid look-ups.
    """
    name = table(model)
    return f"{name} NOT INDEXED" if connection.vendor == "sqlite" else name


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


def add_to_rows(model, keys: tuple[str, ...], values: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert each row (its keys, then its values), or add its values to the row already there with its keys.

    One statement for all rows (an upsert that adds), sorted first so
    concurrent writers lock shared rows in the same order (no deadlock on
    PostgreSQL). The counts tables are written this way.
    """
    if not rows:
        return
    name = table(model)
    columns = (*keys, *values)
    additions = ", ".join(f"{column} = {name}.{column} + excluded.{column}" for column in values)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {additions}",
            sorted(rows),
        )


def ids_of_ranges(ordered, partitions: list[dict], *, limit: int) -> list[int]:
    """The first `limit` ids of `ordered` (a queryset of ids, ordered) within each partition, in one statement.

    Each partition is a filter that an index keeps in the queryset's order
    (for example a step and a state), so each gives its ids by a short
    index range scan however large the table. The statement merges them and
    keeps the first `limit` in the queryset's order (per 200 partitions: a
    caller with more merges the statements' answers).
    """
    # The statement keeps only the first `limit` of all its partitions: the database merges the
    # ranges in order (PostgreSQL's Merge Append reads about `limit` rows, not `limit` per partition).
    direction = "DESC" if str(ordered.query.order_by[0]).startswith("-") else "ASC"
    found: list[int] = []
    for start in range(0, len(partitions), 200):  # a few hundred subqueries per statement
        parts, params = [], []
        for partition in partitions[start:start + 200]:
            sql, values = ordered.filter(**partition)[:limit].query.sql_with_params()
            parts.append(f"SELECT * FROM ({sql}) AS part{len(parts)}")
            params.extend(values)
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts) + f" ORDER BY 1 {direction} LIMIT %s", [*params, limit])
            found.extend(pk for (pk,) in cursor.fetchall())
    return found
