"""The SQL behind segments: staging a snapshot's members, and comparing a snapshot with the one before.

Both run over millions of members, so they are raw statements: one per page
to stage (arrays with unnest on PostgreSQL, one prepared statement on
SQLite), and the comparison walks both snapshots in external id order
through the unique (snapshot, external_id) index, a bounded chunk at a time.
"""

from __future__ import annotations

from django.db import connection

from audiences.bulk_sql import table
from audiences.models import SnapshotMember
from audiences.services.steps import HashedUser

_COLUMNS = "(snapshot_id, external_id, email_hash, idfa_hash, maid_hash)"
_CONFLICT = (
    "ON CONFLICT (snapshot_id, external_id) DO UPDATE SET email_hash = excluded.email_hash, "
    "idfa_hash = excluded.idfa_hash, maid_hash = excluded.maid_hash"
)
_SAME_HASHES = "p.email_hash = s.email_hash AND p.idfa_hash = s.idfa_hash AND p.maid_hash = s.maid_hash"


def _table() -> str:
    return table(SnapshotMember)


def stage(snapshot_id: int, users: list[HashedUser]) -> None:
    """Write these members into the snapshot; a member sent again keeps the identifiers sent last."""
    if not users:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {_table()} {_COLUMNS} SELECT %s, e, a, b, c "
                f"FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS x(e, a, b, c) {_CONFLICT}",
                [snapshot_id, [u.external_id for u in users], [u.email_hash for u in users],
                 [u.idfa_hash for u in users], [u.maid_hash for u in users]],
            )
        else:
            cursor.executemany(
                f"INSERT INTO {_table()} {_COLUMNS} VALUES (%s, %s, %s, %s, %s) {_CONFLICT}",
                [(snapshot_id, u.external_id, u.email_hash, u.idfa_hash, u.maid_hash) for u in users],
            )


def count_members(snapshot_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {_table()} WHERE snapshot_id = %s", [snapshot_id])
        return cursor.fetchone()[0]


def _newcomers_sql(*, count: bool) -> str:
    # Members of the new snapshot the previous one lacks, or holds with other identifiers.
    what = "count(*)" if count else "s.external_id, s.email_hash, s.idfa_hash, s.maid_hash"
    return (
        f"SELECT {what} FROM {_table()} s WHERE s.snapshot_id = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {_table()} p WHERE p.snapshot_id = %s AND p.external_id = s.external_id "
        f"AND {_SAME_HASHES})"
    )


def _leavers_sql(*, count: bool) -> str:
    what = "count(*)" if count else "p.external_id, p.email_hash, p.idfa_hash, p.maid_hash"
    return (
        f"SELECT {what} FROM {_table()} p WHERE p.snapshot_id = %s "
        f"AND NOT EXISTS (SELECT 1 FROM {_table()} s WHERE s.snapshot_id = %s AND s.external_id = p.external_id)"
    )


def count_changes(new_id: int, previous_id: int | None) -> tuple[int, int, int]:
    """(newcomers, of them already members with other identifiers, leavers) from `previous_id` to `new_id`."""
    previous = previous_id or 0  # no snapshot has id 0: everyone is new, nobody leaves
    with connection.cursor() as cursor:
        cursor.execute(_newcomers_sql(count=True), [new_id, previous])
        newcomers = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT count(*) FROM {_table()} s JOIN {_table()} p ON p.snapshot_id = %s "
            f"AND p.external_id = s.external_id WHERE s.snapshot_id = %s AND NOT ({_SAME_HASHES})",
            [previous, new_id],
        )
        changed = cursor.fetchone()[0]
        cursor.execute(_leavers_sql(count=True), [previous, new_id])
        leavers = cursor.fetchone()[0]
    return newcomers, changed, leavers


def newcomers(new_id: int, previous_id: int | None, *, after: str, limit: int) -> list[HashedUser]:
    """The next `limit` newcomers in external id order after `after`."""
    with connection.cursor() as cursor:
        cursor.execute(_newcomers_sql(count=False) + " AND s.external_id > %s ORDER BY s.external_id LIMIT %s",
                       [new_id, previous_id or 0, after, limit])
        return [HashedUser(*row) for row in cursor.fetchall()]


def leavers(new_id: int, previous_id: int | None, *, after: str, limit: int) -> list[HashedUser]:
    """The next `limit` leavers (with the identifiers they were added with) after `after`."""
    if not previous_id:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_leavers_sql(count=False) + " AND p.external_id > %s ORDER BY p.external_id LIMIT %s",
                       [previous_id, new_id, after, limit])
        return [HashedUser(*row) for row in cursor.fetchall()]


def forget(snapshot_id: int) -> None:
    """Drop a snapshot's staged members (a discarded snapshot, or one a newer commit replaced)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_table()} WHERE snapshot_id = %s", [snapshot_id])
