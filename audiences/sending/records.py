"""Sync records: the only writer of SyncRecord (with its retrying module) and of the sender's work list (DueList).

A record moves pending -> synced | errored (or is written not_synced or
synced on entry); retrying errored users moves them back to pending. Every
move adds to the step's counts in the same transaction (audiences.step_counts).

Claiming leases a batch to one sender: a conditional UPDATE (with
`FOR UPDATE SKIP LOCKED` on PostgreSQL) that also moves the records'
`next_attempt_at` to the lease's end, so claimed records leave the due range
at once, and a sender that dies leaves them due again when its lease lapses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from operator import itemgetter

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audiences import step_counts
from audiences.bulk_sql import db_datetime, in_values, python_datetime, table, table_by_id
from audiences.models import LIST_TYPE_BITS, DueList, SyncRecord
from integrations.pinterest.identifiers import EMAIL, IDFA, MAID

PENDING, SYNCED, NOT_SYNCED, ERRORED, SUPPRESSED = (
    SyncRecord.State.PENDING, SyncRecord.State.SYNCED, SyncRecord.State.NOT_SYNCED, SyncRecord.State.ERRORED,
    SyncRecord.State.SUPPRESSED,
)

# Column order of the rows `insert` takes.
COLUMNS = (
    "step_id", "audience_id", "action", "external_id", "email_hash", "idfa_hash", "maid_hash", "sent_types",
    "state", "attempts", "entered_at", "next_attempt_at", "synced_at", "errored_at", "lease_owner",
    "lease_expires_at", "last_error",
)
_STATE = COLUMNS.index("state")
_HASHES = slice(COLUMNS.index("email_hash"), COLUMNS.index("maid_hash") + 1)
_HASH_TYPES = (EMAIL, IDFA, MAID)
# Which column holds which type's hash (audiences.sending.retrying counts them when it moves records back).
HASH_COLUMNS = ((EMAIL, "email_hash"), (IDFA, "idfa_hash"), (MAID, "maid_hash"))


# A reason is kept up to 1,000 bytes (not characters): errored rows' reasons are index keys
# (`syncrecord_step_errors`), and an index entry must stay well under PostgreSQL's 2,704-byte limit.
REASON_MAX_BYTES = 1000


def reason_text(reason: str) -> str:
    """The reason as stored on a record: cut at REASON_MAX_BYTES of UTF-8, never inside a character."""
    return reason.encode()[:REASON_MAX_BYTES].decode(errors="ignore")


def _table() -> str:
    return table(SyncRecord)



# --- Entering -------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _entered_at(now: datetime):
    # Every row of a call shares one time: adapt it once, not 10,000 times.
    return db_datetime(now)


def row(*, step_id: int, audience_id: int | None, action: str, external_id: str, hashes: tuple[str, str, str],
        state: str, now: datetime) -> tuple:
    """One record as `insert` takes it."""
    at = _entered_at(now)
    return (step_id, audience_id, action, external_id, *hashes, 0, state, 0, at, at,
            at if state == SYNCED else None, None, "", None, "")


def insert(rows: list[tuple], *, now: datetime) -> None:
    """Write new records (see `row`) and count them; inside the caller's transaction.

    Entering is the hot path (10,000 users a call, backlogs of millions):
    COPY on PostgreSQL (~10x faster than INSERTs); on SQLite one statement
    reading the rows from a JSON array (_insert_from_json).
    """
    if not rows:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {_table()} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for values in rows:
                copy.write_row(values)
    else:
        _insert_from_json(rows)
    counts = Counter((values[0], values[_STATE]) for values in rows)
    step_counts.add_sent_types(Counter(
        (values[0], list_type) for values in rows if values[_STATE] == SYNCED
        for list_type, value in zip(_HASH_TYPES, values[_HASHES], strict=True) if value
    ))
    touch({(values[1], values[2]) for values in rows if values[_STATE] == PENDING and values[1]})
    step_counts.add(counts)
    hours = {}
    for step_id in {step_id for step_id, _ in counts}:
        hours[(step_id, now)] = (sum(n for (s, _), n in counts.items() if s == step_id), counts[(step_id, SYNCED)], 0)
    step_counts.add_hours(hours)


# What differs from user to user in a call's rows; the other columns are the same for all of them.
_PER_USER = tuple(COLUMNS.index(column) for column in (
    "external_id", "email_hash", "idfa_hash", "maid_hash", "state", "synced_at"))
_SHARED = tuple(index for index in range(len(COLUMNS)) if index not in _PER_USER)
_shared_of, _per_user_of = itemgetter(*_SHARED), itemgetter(*_PER_USER)


def _insert_from_json(rows: list[tuple]) -> None:
    """SQLite: each group of rows sharing the other columns in one INSERT ... SELECT over json_each.

    Binding 17 parameters a row through Python's sqlite3 cost half of
    SQLite's whole insert (21 -> 11 us a row on a 2-core machine); the
    shared values are bound once and the rest is one JSON text (orjson:
    a tenth of the standard library's time for 10,000 rows).
    """
    groups: dict[tuple, list[tuple]] = {}
    for values in rows:
        groups.setdefault(_shared_of(values), []).append(_per_user_of(values))
    shared_columns = [COLUMNS[i] for i in _SHARED]
    per_user_columns = [COLUMNS[i] for i in _PER_USER]
    selects = [*(["%s"] * len(shared_columns)),
               *(f"json_extract(value, '$[{position}]')" for position in range(len(per_user_columns)))]
    sql = (f"INSERT INTO {_table()} ({', '.join([*shared_columns, *per_user_columns])}) "
           f"SELECT {', '.join(selects)} FROM json_each(%s)")
    with connection.cursor() as cursor:
        for shared, users in groups.items():
            cursor.execute(sql, [*shared, orjson.dumps(users).decode()])


def touch(lists: Iterable[tuple[int, str]]) -> None:
    """Put these (audience id, action) lists on the sender's work list, in the caller's transaction.

    The pumps poll the rows' `touched_at` every tick: this is how they hear of
    new work without a task per call.
    """
    now = db_datetime(timezone.now())
    values = sorted(set(lists))
    if not values:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table(DueList)} (audience_id, action, touched_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (audience_id, action) DO UPDATE SET touched_at = excluded.touched_at",
            [(audience_id, action, now) for audience_id, action in values],
        )


# --- What the sender reads ------------------------------------------------------------------------


def lists_touched_since(moment: datetime | None) -> list[tuple[int, str, datetime]]:
    """(audience id, action, touched at) of the work list's lists touched after `moment` (None: all).

    A raw statement: every pump reads it ten times a second.
    """
    sql = f"SELECT audience_id, action, touched_at FROM {table(DueList)}"
    params = []
    if moment is not None:
        sql += " WHERE touched_at > %s"
        params.append(db_datetime(moment))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(audience_id, action, python_datetime(at)) for audience_id, action, at in cursor.fetchall()]


def due_state(audience_id: int, action: str, *, now: datetime, cap: int) -> tuple[datetime | None, int]:
    """(when its longest-waiting user was due, or None if nobody waits; users due now, counted up to `cap`).

    Two index range scans on `syncrecord_due`, whatever the backlog, in one
    raw statement: every pump asks for each list it watches, several times a
    second, and compiling the ORM's versions cost more than the scans.
    """
    waiting = f"FROM {_table()} WHERE state = %s AND audience_id = %s AND action = %s"
    with connection.cursor() as cursor:
        # One statement, two scalar subqueries: a trickling list is asked after each touch.
        cursor.execute(
            f"SELECT (SELECT MIN(next_attempt_at) {waiting}), "
            f"(SELECT COUNT(*) FROM (SELECT 1 {waiting} AND next_attempt_at <= %s LIMIT %s) AS due)",
            [PENDING, audience_id, action, PENDING, audience_id, action, db_datetime(now), cap],
        )
        oldest, due = cursor.fetchone()
        oldest = python_datetime(oldest)
        if oldest is None or oldest > now:
            return oldest, 0
        return oldest, due


def list_forget_if_idle(audience_id: int, action: str, *, idle_since: datetime) -> bool:
    """Drop a list from the work list when nobody waits and nobody touched it since `idle_since`."""
    with transaction.atomic():
        if SyncRecord.objects.filter(state=PENDING, audience_id=audience_id, action=action).exists():
            return False
        return bool(DueList.objects.filter(audience_id=audience_id, action=action, touched_at__lt=idle_since).delete()[0])


# --- Claiming and finishing -----------------------------------------------------------------------


@dataclass(slots=True)
class Claimed:
    id: int
    step_id: int
    external_id: str
    hashes: dict[str, str]  # list type -> hash, only the identifiers the user has
    sent_types: int
    attempts: int
    entered_at: datetime
    failure: Exception | None = None
    done: bool = False

    @classmethod
    def from_rows(cls, rows: list[tuple]) -> list[Claimed]:
        entered: dict = {}  # the users of one entry call share one time: each distinct one is read once
        claimed = []
        for record_id, step_id, external_id, email, idfa, maid, sent_types, attempts, at in rows:
            entered_at = entered.get(at)
            if entered_at is None:
                entered_at = entered[at] = python_datetime(at)
            hashes = {t: h for t, h in ((EMAIL, email), (IDFA, idfa), (MAID, maid)) if h}
            claimed.append(cls(record_id, step_id, external_id, hashes, sent_types, attempts, entered_at))
        return claimed


_CLAIMABLE = (
    "state = 'pending' AND audience_id = %s AND action = %s AND next_attempt_at <= %s "
    "AND (lease_expires_at IS NULL OR lease_expires_at < %s)"
)


def claim(audience_id: int, action: str, *, owner: str, now: datetime, at_least: int) -> list[Claimed]:
    """Lease up to one batch of the list's due records to `owner`, oldest due first.

    Nothing is claimed unless at least `at_least` can be: a full batch is
    claimed whole or not at all. One statement claims and reads, with the
    claim conditions checked again on each row, so no record is ever
    claimed by two senders.
    """
    batch = settings.SYNC_BATCH_SIZE
    params = [audience_id, action, db_datetime(now), db_datetime(now)]
    lease_until = db_datetime(now + timedelta(seconds=settings.SYNC_LEASE_SECONDS))
    assign = "lease_owner = %s, lease_expires_at = %s, next_attempt_at = %s"
    # On SQLite `+t.entered_at` is the stored text as it is: an expression has no declared type, so
    # sqlite3 does not run Django's datetime converter on each row (from_rows reads each distinct time once).
    returning = (
        "RETURNING t.id, t.step_id, t.external_id, t.email_hash, t.idfa_hash, t.maid_hash, t.sent_types, t.attempts, "
        + ("t.entered_at" if connection.vendor == "postgresql" else "+t.entered_at")
    )
    if connection.vendor == "postgresql":
        # A materialised CTE: the planner must not re-run the locking subquery per row.
        sql = (
            f"WITH picked AS MATERIALIZED (SELECT id FROM {_table()} WHERE {_CLAIMABLE} "
            "ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE {_table()} AS t SET {assign} FROM picked "
            f"WHERE t.id = picked.id AND (SELECT count(*) FROM picked) >= %s {returning}"
        )
        arguments = [*params, batch, owner, lease_until, lease_until, at_least]
    else:
        # SQLite has one writer at a time; the conditions checked again per row do the rest.
        picked = f"SELECT id FROM {_table()} WHERE {_CLAIMABLE} ORDER BY next_attempt_at LIMIT %s"
        sql = (
            f"UPDATE {table_by_id(SyncRecord)} SET {assign} WHERE id IN ({picked}) AND {_CLAIMABLE} "
            f"AND (SELECT count(*) FROM ({picked})) >= %s {returning.replace('t.', '')}"
        )
        arguments = [owner, lease_until, lease_until, *params, batch, *params, *params, batch, at_least]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, arguments)
        return Claimed.from_rows(cursor.fetchall())


@dataclass(frozen=True)
class Retry:
    """Not sent this time: due again at `at` (counted as an attempt unless `held`)."""

    reason: str
    at: datetime
    held: bool = False


@dataclass(frozen=True)
class Error:
    """Refused for good: the record becomes errored with the reason."""

    reason: str


def finish(owner: str, outcomes: list[tuple[Claimed, Retry | Error | None]], *, now: datetime,
           also=None) -> None:
    """Record each claimed record's outcome (None: synced) and count the moves, in one transaction.

    `also` runs first in the same transaction (the ledger). Only records
    still leased to `owner` change: a batch whose lease lapsed and was
    claimed again elsewhere must not overwrite the newer outcome, nor count
    its users' times to Pinterest twice.
    """
    groups: dict[tuple, list[Claimed]] = {}
    for record, outcome in outcomes:
        sent_types = _bits(record) if outcome is None else record.sent_types
        groups.setdefault((record.step_id, outcome, sent_types), []).append(record)
    moved: Counter = Counter()
    hours: dict[tuple[int, datetime], tuple[int, int, int]] = {}
    latencies: list[tuple[int, float, int]] = []
    carried_types: Counter = Counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if also is not None:
            also()
        for (step_id, outcome, sent_types), claimed in groups.items():
            if outcome is None:
                fields, state = {"state": SYNCED, "synced_at": now, "last_error": "", "sent_types": sent_types}, SYNCED
            elif isinstance(outcome, Error):
                fields, state = {"state": ERRORED, "errored_at": now, "last_error": reason_text(outcome.reason)}, ERRORED
            else:
                fields, state = {"next_attempt_at": outcome.at, "last_error": reason_text(outcome.reason)}, PENDING
            assignments = [f"{column} = %s" for column in fields]
            if outcome is not None and not (isinstance(outcome, Retry) and outcome.held):
                assignments.append("attempts = attempts + 1")  # failed attempts, not holds
            ids_clause, ids_param = in_values("id", [record.id for record in claimed])
            cursor.execute(
                f"UPDATE {_table()} SET {', '.join(assignments)}, lease_owner = '', lease_expires_at = NULL "
                f"WHERE lease_owner = %s AND {ids_clause}{' RETURNING id' if state == SYNCED else ''}",
                [*(db_datetime(v) if isinstance(v, datetime) else v for v in fields.values()), owner, ids_param],
            )
            if state == SYNCED:
                # Only the rows still ours moved: time those users, and count them (with RETURNING,
                # SQLite's rowcount is not known until the rows are read).
                updated = {record_id for (record_id,) in cursor.fetchall()}
                # Counted per entering time and per set of identifier types: a batch has few of each.
                waited: Counter = Counter()
                kinds: Counter = Counter()
                for record in claimed:
                    if record.id in updated:
                        waited[record.entered_at] += 1
                        kinds[tuple(record.hashes)] += 1
                latencies.extend((step_id, (now - at).total_seconds(), n) for at, n in waited.items())
                for list_types, n in kinds.items():
                    for list_type in list_types:
                        carried_types[(step_id, list_type)] += n
                count = len(updated)
            else:
                count = cursor.rowcount
            if state != PENDING and count:
                moved[(step_id, PENDING)] -= count
                moved[(step_id, state)] += count
                entered, synced, errored = hours.get((step_id, now), (0, 0, 0))
                hours[(step_id, now)] = (entered, synced + count * (state == SYNCED),
                                         errored + count * (state == ERRORED))
        step_counts.add(moved)
        step_counts.add_hours(hours)
        step_counts.add_latencies(latencies)
        step_counts.add_sent_types(carried_types)


def _bits(record: Claimed) -> int:
    # A batch has a few combinations of identifier types among its 1,900 users: each summed once.
    return _bits_of(tuple(record.hashes))


@lru_cache(maxsize=64)
def _bits_of(list_types: tuple[str, ...]) -> int:
    return sum(LIST_TYPE_BITS[t] for t in list_types)


# --- Privacy: suppression, erasure and retention (audiences.services.privacy, .retention) -----------


def skip_pending_user(*, step_ids: list[int], external_id: str, adds_only: bool, now: datetime) -> tuple[int, int]:
    """The user's pending records in these steps that no sender holds become suppressed: never sent.

    Returns (skipped, still leased): a leased record may be in flight; the
    caller tries again once its lease ends.
    """
    with transaction.atomic():
        pending = [(record_id, step_id, lease) for record_id, step_id, state, action, lease
                   in _user_records(step_ids, external_id) if state == PENDING and (action == "add" or not adds_only)]
        free = [(record_id, step_id) for record_id, step_id, lease in pending if lease is None or lease < now]
        if free:
            ids_clause, ids_param = in_values("id", [record_id for record_id, _ in free])
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table_by_id(SyncRecord)} SET state = %s, last_error = %s, lease_owner = '', "
                    f"lease_expires_at = NULL WHERE state = %s AND (lease_expires_at IS NULL OR lease_expires_at < %s) "
                    f"AND {ids_clause}",
                    [SUPPRESSED, "Suppressed: not sent.", PENDING, db_datetime(now), ids_param],
                )
                if cursor.rowcount != len(free):  # a sender claimed one meanwhile: try again later
                    transaction.set_rollback(True)
                    return 0, 1
            changes = Counter()
            for _, step_id in free:
                changes[(step_id, PENDING)] -= 1
                changes[(step_id, SUPPRESSED)] += 1
            step_counts.add(changes)
        return len(free), len(pending) - len(free)


def erase_user(*, step_ids: list[int], external_id: str) -> int:
    """Delete the user's records in these steps; the steps' counts keep them. Returns how many."""
    ids = [record_id for record_id, _, state, _, _ in _user_records(step_ids, external_id) if state != PENDING]
    return SyncRecord.objects.filter(pk__in=ids).exclude(state=PENDING).delete()[0] if ids else 0


def _user_records(step_ids: list[int], external_id: str) -> list[tuple[int, int, str, str, datetime | None]]:
    """(id, step id, state, action, lease end) of the user's records in these steps, found by external_id.

    The state is then tested row by row. SQLite's planner, which has no
    statistics, walked `syncrecord_step_state` over every record of the step
    when one step was asked, or `syncrecord_due` over every pending record
    when the state was in the WHERE: work growing with the history.
    """
    indexed_by = " INDEXED BY syncrecord_external_id" if connection.vendor == "sqlite" else ""
    steps_clause, steps_param = in_values("step_id", step_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, step_id, state, action, lease_expires_at FROM {_table()}{indexed_by} "
            f"WHERE external_id = %s AND {steps_clause}",
            [external_id, steps_param],
        )
        return [(record_id, step_id, state, action, python_datetime(lease))
                for record_id, step_id, state, action, lease in cursor.fetchall()]
