"""The membership ledger: the only writer of AudienceMember.

Which identifiers of which user Pinterest has accepted into an audience. It
is written in the transaction that records a batch's outcome, so its counts
(not the send log) say who is in the audience. A remove sends every
identifier ever added for the user; a re-entering member is not sent again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection

from audiences.bulk_sql import db_datetime, in_values, table
from audiences.models import AudienceMember


def _table() -> str:
    return table(AudienceMember)


def members_with(audience_id: int, wanted: dict[str, set[tuple[str, str]]]) -> set[str]:
    """External ids whose every (list type, hash) in `wanted` is already in the audience."""
    if not wanted or not AudienceMember.objects.filter(audience_id=audience_id).exists():
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
    return {eid for eid, pairs in wanted.items() if pairs <= known.get(eid, set())}


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
                # One prepared statement; bulk_create spent most of a batch compiling SQL.
                cursor.executemany(
                    f"INSERT INTO {_table()} {columns} VALUES (%s, %s, %s, %s, %s, %s) {conflict}",
                    [(audience_id, e, t, h, True, at) for e, t, h in added],
                )
        if removed:
            wanted, param = in_values("external_id", removed)
            cursor.execute(
                f"UPDATE {_table()} SET is_member = %s, updated_at = %s WHERE audience_id = %s AND {wanted}",
                [False, at, audience_id, param],
            )


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
    return AudienceMember.objects.filter(audience_id__in=list(audience_ids), external_id=external_id).delete()[0]


def members_among(audience_ids: Iterable[int], external_ids: Iterable[str]) -> set[str]:
    """Those of these users who are members of any of these audiences."""
    external_ids = sorted(set(external_ids))
    if not external_ids:
        return set()
    return set(
        AudienceMember.objects.filter(audience_id__in=list(audience_ids), is_member=True, external_id__in=external_ids)
        .values_list("external_id", flat=True)
    )


def forget_audience(audience_id: int) -> None:
    """The audience's list is gone at Pinterest: nobody is in it any more."""
    AudienceMember.objects.filter(audience_id=audience_id).update(is_member=False)
