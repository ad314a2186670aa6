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
    return [_built(model, attnames, converters, list(row)) for row in rows]


def _built(model, attnames: list[str], converters: list[tuple[int, list, object]], values: list):
    """A model instance from its columns' values as read, through the ORM's converters."""
    for position, functions, column in converters:
        for convert in functions:
            values[position] = convert(values[position], column, connection)
    return model.from_db(connection.alias, attnames, values)


def instance_joined(model, where: str, params: Sequence, *, related: Sequence[str]):
    """The first row matching `where` with the rows its foreign keys point to, in one statement, or None.

    `related` names non-null foreign keys as select_related does
    ("ad_account", "ad_account__connection"); `where` names the model's
    table `t` ("t.id = %s"). One statement instead of one per row: each is a
    round trip on PostgreSQL and a few dozen microseconds of Python anywhere.
    """
    sql, parts = _joined_plan(model, tuple(related))
    with connection.cursor() as cursor:
        cursor.execute(sql + where + " LIMIT 1", params)
        row = cursor.fetchone()
    if row is None:
        return None
    found = {}
    for path, part_model, start, attnames, converters in parts:
        found[path] = _built(part_model, attnames, converters, list(row[start:start + len(attnames)]))
        if path:
            parent, _, name = path.rpartition("__")
            setattr(found[parent], name, found[path])
    return found[""]


def _joined_plan(model, related: tuple[str, ...]):
    """("SELECT ... FROM ... JOIN ... WHERE ", [(path, model, first column, attnames, converters)]), once per shape."""
    cached = _joined_plans.get((connection.vendor, model, related))
    if cached is not None:
        return cached
    quote = connection.ops.quote_name
    models, aliases = {"": model}, {"": "t"}
    selects, joins, parts = [], [], []
    for path in ("", *related):
        if path:
            parent, _, name = path.rpartition("__")
            field = models[parent]._meta.get_field(name)
            if not field.many_to_one or field.null:
                raise ValueError(f"{path} is not a non-null foreign key")
            models[path], aliases[path] = field.related_model, f"j{len(joins) + 1}"
            joins.append(f"JOIN {quote(field.related_model._meta.db_table)} AS {aliases[path]} "
                         f"ON {aliases[path]}.{quote(field.target_field.column)} = {aliases[parent]}.{quote(field.column)}")
        _, attnames, converters = _columns_and_converters(models[path])
        columns = [field.column for field in models[path]._meta.concrete_fields]
        parts.append((path, models[path], len(selects), attnames, converters))
        selects += [f"{aliases[path]}.{quote(column)}" for column in columns]
    cached = _joined_plans[(connection.vendor, model, related)] = (
        f"SELECT {', '.join(selects)} FROM {quote(model._meta.db_table)} AS t {' '.join(joins)} WHERE ", parts,
    )
    return cached


_joined_plans: dict[tuple, tuple[str, list]] = {}


def exists(model, where: str, params: Sequence) -> bool:
    """Whether a row of the model's table matches `where`."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(model._meta.db_table)} WHERE {where} LIMIT 1", params)
        return cursor.fetchone() is not None


def instance(model, where: str, params: Sequence, *, order_by: str = "", order_params: Sequence = ()):
    """The first row matching `where` as a model instance, or None."""
    rows = instances(model, where, params, order_by=order_by, order_params=order_params, limit=1)
    return rows[0] if rows else None
