"""The membership ledger: the only writer of AudienceMember and AudienceMemberCount.

Which identifiers of which user Pinterest has accepted into an audience. It
is written in the transaction that records a batch's outcome, so its counts
(not the send log) say who is in the audience. A remove sends every
identifier ever added for the user; a re-entering member is not sent again.

How many users are members is kept beside it (AudienceMemberCount), moved
in the same transaction, so a page reads one row instead of counting the
audience's members. Each change first takes the count row's lock, so two
batches of one audience finishing at once count in turn and the number
stays exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

import orjson
from django.db import connection, transaction

from audiences.bulk_sql import db_datetime, in_values, table
from audiences.models import AudienceMember, AudienceMemberCount
from project import db


def _table() -> str:
    return table(AudienceMember)


def has_members(audience_id: int) -> bool:
    """Whether the ledger holds anyone for the audience (one index probe, asked by every entry call)."""
    return db.exists(AudienceMember, "audience_id = %s", [audience_id])


def members_with(audience_id: int, wanted: Mapping[str, object], *, pairs_of: Callable[[object], set] | None = None,
                 known_to_have_members: bool = False) -> set[str]:
    """External ids whose every (list type, hash) in `wanted` is already in the audience.

    `wanted` maps each external id to its (list type, hash) pairs, or to what
    `pairs_of` makes them of: only the users found in the audience are asked
    (most of an entry call's 10,000 are new).
    `known_to_have_members`: the caller asked has_members already, so it is not asked again.
    """
    if not wanted or not (known_to_have_members or has_members(audience_id)):
        return set()
    known: dict[str, set[tuple[str, str]]] = {}
    ids_clause, ids_param = in_values("external_id", list(wanted))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id, list_type, identifier_hash FROM {_table()} "
            f"WHERE audience_id = %s AND is_member AND {ids_clause}",
            [audience_id, ids_param],
        )
        for external_id, list_type, identifier_hash in cursor.fetchall():
            known.setdefault(external_id, set()).add((list_type, identifier_hash))
    pairs_of = pairs_of or (lambda pairs: pairs)
    return {eid for eid, pairs in known.items() if pairs_of(wanted[eid]) <= pairs}


def hashes_of(audience_id: int, external_ids: Iterable[str]) -> dict[str, set[str]]:
    """Every identifier hash the audience holds for these users, of any type."""
    found: dict[str, set[str]] = {}
    wanted, param = in_values("external_id", list(external_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id, identifier_hash FROM {_table()} WHERE audience_id = %s AND is_member AND {wanted}",
            [audience_id, param],
        )
        for external_id, identifier_hash in cursor.fetchall():
            found.setdefault(external_id, set()).add(identifier_hash)
    return found


def record(audience_id: int, *, added: list[tuple[str, str, str]], removed: list[str], now: datetime) -> None:
    """Pinterest accepted these: `added` (external id, list type, hash), `removed` external ids.

    Runs inside the caller's transaction.
    """
    at = db_datetime(now)
    _lock_count(audience_id)
    joining = {external_id for external_id, _, _ in added}
    change = len(joining - members_among([audience_id], joining)) if joining else 0
    if removed:
        change -= len(members_among([audience_id], set(removed) - joining))
    with connection.cursor() as cursor:
        if added:
            columns = "(audience_id, external_id, list_type, identifier_hash, is_member, updated_at)"
            conflict = (
                "ON CONFLICT (audience_id, external_id, list_type, identifier_hash) "
                "DO UPDATE SET is_member = excluded.is_member, updated_at = excluded.updated_at"
            )
            if connection.vendor == "postgresql":
                # One statement over arrays: psycopg's executemany costs a round trip per row.
                cursor.execute(
                    f"INSERT INTO {_table()} {columns} SELECT %s, e, t, h, true, %s "
                    f"FROM unnest(%s::text[], %s::text[], %s::text[]) AS x(e, t, h) {conflict}",
                    [audience_id, at, *map(list, zip(*added))],
                )
            else:
                # One statement over a JSON array: binding each row's values through Python's sqlite3
                # cost as much as SQLite's insert ("WHERE true" lets SQLite parse the upsert after a SELECT).
                cursor.execute(
                    f"INSERT INTO {_table()} {columns} SELECT %s, json_extract(value, '$[0]'), "
                    "json_extract(value, '$[1]'), json_extract(value, '$[2]'), 1, %s FROM json_each(%s) "
                    f"WHERE true {conflict}",
                    [audience_id, at, orjson.dumps(added).decode()],
                )
        if removed:
            wanted, param = in_values("external_id", removed)
            cursor.execute(
                f"UPDATE {_table()} SET is_member = %s, updated_at = %s WHERE audience_id = %s AND {wanted}",
                [False, at, audience_id, param],
            )
    _add_to_count(audience_id, change)


def member_count(audience_id: int) -> int:
    """Users the ledger holds as members of the audience (one row, whatever the audience's size)."""
    return AudienceMemberCount.objects.filter(audience_id=audience_id).values_list("users", flat=True).first() or 0


def _lock_count(audience_id: int) -> None:
    # An upsert that changes nothing still locks the row until the transaction ends (PostgreSQL);
    # SQLite's writer lock already serialises writers.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(AudienceMemberCount)} (audience_id, users) VALUES (%s, 0) "
            "ON CONFLICT (audience_id) DO UPDATE SET users = excluded.users + " + table(AudienceMemberCount) + ".users",
            [audience_id],
        )


def _add_to_count(audience_id: int, change: int) -> None:
    if change:
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table(AudienceMemberCount)} SET users = users + %s WHERE audience_id = %s",
                           [change, audience_id])


def memberships(audience_ids: Iterable[int], external_id: str) -> dict[int, set[str]]:
    """audience id -> every identifier hash the audience holds for the user (members only)."""
    found: dict[int, set[str]] = {}
    rows = AudienceMember.objects.filter(audience_id__in=list(audience_ids), external_id=external_id, is_member=True)
    for audience_id, identifier_hash in rows.values_list("audience_id", "identifier_hash"):
        found.setdefault(audience_id, set()).add(identifier_hash)
    return found


def members_by_hash(audience_ids: Iterable[int], hashes: Iterable[str]) -> set[str]:
    """External ids of members holding any of these identifier hashes in these audiences."""
    hashes = list(hashes)
    if not hashes:
        return set()
    return set(
        AudienceMember.objects.filter(audience_id__in=list(audience_ids), is_member=True, identifier_hash__in=hashes)
        .values_list("external_id", flat=True)
    )


def erase_user(audience_ids: Iterable[int], external_id: str) -> int:
    """Forget every entry of the user in these audiences (an erasure, once Pinterest removed them)."""
    audience_ids = sorted(set(audience_ids))
    with transaction.atomic():
        for audience_id in audience_ids:
            _lock_count(audience_id)
            _add_to_count(audience_id, -len(members_among([audience_id], {external_id})))
        return AudienceMember.objects.filter(audience_id__in=audience_ids, external_id=external_id).delete()[0]


def members_among(audience_ids: Iterable[int], external_ids: Iterable[str]) -> set[str]:
    """Those of these users who are members of any of these audiences."""
    external_ids, audience_ids = sorted(set(external_ids)), sorted(set(audience_ids))
    if not external_ids or not audience_ids:
        return set()
    # One parameter for a batch's 1,900 ids (bulk_sql.in_values), not one placeholder each.
    audiences, audiences_param = in_values("audience_id", audience_ids)
    wanted, wanted_param = in_values("external_id", external_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT external_id FROM {_table()} WHERE {audiences} AND is_member AND {wanted}",
            [audiences_param, wanted_param],
        )
        return {external_id for (external_id,) in cursor.fetchall()}


def forget_audience(audience_id: int) -> None:
    """The audience's list is gone at Pinterest: nobody is in it any more."""
    with transaction.atomic():
        _lock_count(audience_id)
        AudienceMember.objects.filter(audience_id=audience_id).update(is_member=False)
        AudienceMemberCount.objects.filter(audience_id=audience_id).update(users=0)
