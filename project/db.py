"""Model instances (and existence) read with one raw statement, for the reads every API call makes.

The ORM compiles a query anew each time it runs (several hundred
microseconds for a select_related read), more than the index probe itself
costs on the entry path: the API key, the canvas and its steps, whether
anyone is suppressed or already in the audience. Rows come back as the ORM
would give them: every concrete field, through the same converters
(SQLite's datetimes become aware UTC datetimes).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection


def _columns_and_converters(model) -> tuple[str, list[str], list[tuple[int, list, object]]]:
    """(SELECT list, attnames, [(position, converters, column)]) for the model, worked out once per model."""
    cached = _plans.get((connection.vendor, model))
    if cached is None:
        fields = model._meta.concrete_fields
        table = connection.ops.quote_name(model._meta.db_table)
        select = ", ".join(f"{table}.{connection.ops.quote_name(field.column)}" for field in fields)
        converters = []
        for position, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
            if found:
                converters.append((position, found, column))
        cached = _plans[(connection.vendor, model)] = (select, [field.attname for field in fields], converters)
    return cached


_plans: dict[tuple[str, type], tuple[str, list[str], list[tuple[int, list, object]]]] = {}


def instances(model, where: str, params: Sequence, *, order_by: str = "", order_params: Sequence = (),
              limit: int | None = None) -> list:
    """The model's rows matching `where` (raw SQL over its own table), as model instances."""
    select, attnames, converters = _columns_and_converters(model)
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"SELECT {select} FROM {table} WHERE {where}"
    if order_by:
        sql += f" ORDER BY {order_by}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *order_params])
        rows = cursor.fetchall()
    found = []
    for row in rows:
        values = list(row)
        for position, functions, column in converters:
            for convert in functions:
                values[position] = convert(values[position], column, connection)
        found.append(model.from_db(connection.alias, attnames, values))
    return found


def exists(model, where: str, params: Sequence) -> bool:
    """Whether a row of the model's table matches `where`."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(model._meta.db_table)} WHERE {where} LIMIT 1", params)
        return cursor.fetchone() is not None


def instance(model, where: str, params: Sequence, *, order_by: str = "", order_params: Sequence = ()):
    """The first row matching `where` as a model instance, or None."""
    rows = instances(model, where, params, order_by=order_by, order_params=order_params, limit=1)
    return rows[0] if rows else None
