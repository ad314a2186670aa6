"""Dead rows reclaimed on PostgreSQL, whether or not the server's autovacuum keeps up.

Every synced user updates its sync record as it moves from pending to synced,
and retention deletes rows by the million; on PostgreSQL each of those leaves a
dead row version, and its space is reused only once a VACUUM has passed. A
default server's autovacuum does that (sooner on the busiest tables, see
migration 0008). But autovacuum can be turned off, as on some shared or tuned
servers, or fall behind: then the database grows without end although the
rows in it do not, and the planner's statistics go stale too, since
ANALYZE is autovacuum's job as well.

So the service looks after its own tables: once a minute, after retention,
every table in which more than VACUUM_DEAD_SHARE of the rows are dead (and at
least VACUUM_MIN_DEAD_ROWS) is vacuumed, and every table that changed that
much since its statistics were taken is analysed. VACUUM takes a lock that
lets reads and writes go on. On a server whose autovacuum keeps up this
rarely finds anything to do. SQLite reuses the pages it frees by itself.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import connection

from audiences import leases

logger = logging.getLogger(__name__)

LEASE = "vacuum"

# The tables of the current schema past either threshold, the most dead rows first. pg_stat_user_tables'
# counters are kept by the server's statistics collector (track_counts, on by default), with or without autovacuum.
_TABLES_DUE = """
    SELECT relname,
           n_dead_tup > GREATEST(%(min_rows)s, %(share)s * n_live_tup) AS vacuum_due,
           n_mod_since_analyze > GREATEST(%(min_rows)s, %(share)s * n_live_tup) AS analyze_due
      FROM pg_stat_user_tables
     WHERE schemaname = current_schema()
       AND (n_dead_tup > GREATEST(%(min_rows)s, %(share)s * n_live_tup)
            OR n_mod_since_analyze > GREATEST(%(min_rows)s, %(share)s * n_live_tup))
     ORDER BY n_dead_tup DESC
"""


def tables_due() -> list[tuple[str, bool, bool]]:
    """(table, vacuum due, analyse due) for each table past a threshold; empty on SQLite."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        if connection.pg_version >= 150000:
            # This process's own writes (retention's deletes a moment ago) reach the counters when it is next
            # idle, and at most once a second: have them counted now, so this run sees them.
            cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute(_TABLES_DUE, {"min_rows": settings.VACUUM_MIN_DEAD_ROWS, "share": settings.VACUUM_DEAD_SHARE})
        return [(name, bool(vacuum), bool(analyze)) for name, vacuum, analyze in cursor.fetchall()]


def vacuum_tables_due(*, seconds: float | None = None) -> list[str]:
    """VACUUM (and ANALYZE) the tables past their threshold, until done or `seconds` have passed. Returns them.

    One run at a time across every process (a lease). VACUUM cannot run in a
    transaction, so this must be called outside one (a task is).
    """
    if connection.in_atomic_block:
        return []  # VACUUM cannot run inside a transaction; the next run outside one will do it
    due = tables_due()
    if not due:
        return []
    seconds = settings.RETENTION_RUN_SECONDS if seconds is None else seconds
    owner = f"vacuum-{time.monotonic_ns()}"
    if not leases.acquire(LEASE, owner, seconds=seconds + 600):
        return []
    deadline = time.monotonic() + seconds
    done = []
    try:
        for table, vacuum_due, _ in due:
            if time.monotonic() >= deadline:
                break
            started = time.monotonic()
            statement = "VACUUM (ANALYZE)" if vacuum_due else "ANALYZE"
            with connection.cursor() as cursor:
                cursor.execute(f"{statement} {connection.ops.quote_name(table)}")
            logger.info("%s %s in %.1f s", statement, table, time.monotonic() - started)
            done.append(table)
    finally:
        leases.release(LEASE, owner)
    return done
