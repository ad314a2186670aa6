"""Whether users are on a workspace's suppression list: the check every entrance makes (audiences.services.steps).

Kept apart from the list's writer (audiences.services.suppression), which
validates like an entry and so imports the entry path: this module imports
neither, so the entry path can use it without an import cycle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.db import connection

from audiences.bulk_sql import in_values
from audiences.models import SuppressedIdentifier
from project import db

Kind = SuppressedIdentifier.Kind


def external_id_hash(external_id: str) -> str:
    """What the list keeps of an external id: its SHA-256, never the id itself."""
    return hashlib.sha256(external_id.strip().encode("utf-8")).hexdigest()


def user_hashes(user) -> set[tuple[str, str]]:
    """(kind, hash) of everything that can suppress this user (a HashedUser or anything with its fields)."""
    found = {(Kind.EXTERNAL_ID, external_id_hash(user.external_id))}
    for kind, value in ((Kind.EMAIL, user.email_hash), (Kind.IDFA, user.idfa_hash), (Kind.MAID, user.maid_hash)):
        if value:
            found.add((kind, value))
    return found


def workspace_has_suppressions(workspace_id: int) -> bool:
    return db.exists(SuppressedIdentifier, "workspace_id = %s", [workspace_id])


def suppressed_among(workspace_id: int, users: Iterable) -> set[str]:
    """External ids of the users the workspace suppresses, by external id or by any identifier they carry.

    One indexed query per call (none when the list is empty): the entry path
    calls it for every batch of users.
    """
    users = list(users)
    if not users or not workspace_has_suppressions(workspace_id):
        return set()
    wanted = {user.external_id: user_hashes(user) for user in users}
    values = sorted({value for pairs in wanted.values() for _, value in pairs})
    clause, param = in_values("value_hash", values)
    table = connection.ops.quote_name(SuppressedIdentifier._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT kind, value_hash FROM {table} WHERE workspace_id = %s AND {clause}",
                       [workspace_id, param])
        listed = set(cursor.fetchall())
    return {external_id for external_id, pairs in wanted.items() if pairs & listed}
