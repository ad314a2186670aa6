"""The one module of `audiences` that talks to Pinterest (integrations.pinterest).

It turns what the service wants (send these identifiers to an audience,
read an existing audience, make the audience once its list is ready) into
Pinterest's operations, writes the send log around each request, and
turns Pinterest's errors into three things a caller can act on:

- `Held`: the workspace's connection cannot be used; wait for a reconnect.
- `TryLater`: rate limited, Pinterest unavailable, or busy here; try again.
- `Refused`: Pinterest refused this request for good.

An audience is one Pinterest customer list holding every identifier type
(Pinterest's records "can be any combination of emails, MAIDs, or IDFAs"
under one declared list_type; API-NOTES "Mixing identifier types"), so
every synced user is reachable through the one audience the marketer picked.
"""

from __future__ import annotations

import time
import uuid
from bisect import bisect_left
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from audiences import leases
from audiences.bulk_sql import add_to_rows, db_datetime, table
from audiences.models import Audience, AudienceList, RequestTotal, SendLog
from audiences.sending import signals
from integrations.crypto import TokenDecryptionError
from integrations.pinterest import client as pinterest
from integrations.pinterest import ratelimit
from integrations.pinterest.identifiers import EMAIL
from integrations.services.connections import ConnectionUnusable
from integrations.services.tokens import with_pinterest
from project import db

T = TypeVar("T")

# Upper bounds (seconds) of the buckets of each request's wait for the shared rate limit (RequestTotal.wait_bucket
# indexes this; its length: longer than the last). Fixed: a bound may only ever be appended.
LIMITER_WAIT_BOUNDS = (0, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class PinterestProblem(Exception):
    """A call to Pinterest did not work; the message says why, in words a marketer can act on."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Held(PinterestProblem):
    """The connection cannot be used (token refused or unreadable): users wait until the workspace reconnects."""


class TryLater(PinterestProblem):
    """Not done this time, for a reason that passes (429, 5xx, timeout, a list being created)."""


class Refused(PinterestProblem):
    """Pinterest refused the request for good (a 4xx other than 401 and 429)."""


class Missing(Refused):
    """Pinterest has no such object (404)."""


RemoteAudience = pinterest.Audience


def _translated(exc: Exception) -> Exception:
    """What a caller must do about a failed call."""
    if isinstance(exc, ConnectionUnusable | TokenDecryptionError):
        return Held(str(exc))
    if isinstance(exc, pinterest.RateLimited):
        return TryLater(str(exc), retry_after=exc.retry_after if exc.retry_after is not None else 1.0)
    if isinstance(exc, pinterest.NotFound):
        return Missing(str(exc))
    if isinstance(exc, pinterest.RequestError):
        return Refused(str(exc))
    return TryLater(str(exc))  # transient, or an auth error a refresh did not settle


def budget_of(connection) -> str:
    """The key of the request budget this connection shares with every other use of its Pinterest user."""
    return ratelimit.key_for(connection)


def _call(connection, operation: Callable[[pinterest.PinterestClient], T]) -> T:
    """One read or write with the connection's token (a 401 refreshes once), errors translated."""
    try:
        return with_pinterest(connection, operation)
    except (pinterest.PinterestError, ConnectionUnusable, TokenDecryptionError) as exc:
        raise _translated(exc) from None


# --- Audiences on Pinterest -------------------------------------------------------------------


def existing_audience(ad_account, audience_id: str) -> tuple[RemoteAudience, pinterest.CustomerList | None]:
    """An audience on Pinterest and the customer list its rule names (None when it names none)."""

    def read(client: pinterest.PinterestClient):
        remote = client.audience_get(ad_account.pinterest_id, audience_id)
        if not remote.customer_list_id:
            return remote, None
        return remote, client.customer_list_get(ad_account.pinterest_id, remote.customer_list_id)

    return _call(ad_account.connection, read)


def audiences_page(ad_account, *, bookmark: str | None, page_size: int) -> pinterest.Page:
    return _call(ad_account.connection,
                 lambda client: client.audiences_page(ad_account.pinterest_id, bookmark=bookmark, page_size=page_size))


def audience_read(ad_account, audience_id: str) -> RemoteAudience:
    return _call(ad_account.connection, lambda client: client.audience_get(ad_account.pinterest_id, audience_id))


def customer_list_status(ad_account, customer_list_id: str) -> str:
    return _call(ad_account.connection,
                 lambda client: client.customer_list_get(ad_account.pinterest_id, customer_list_id)).status


def audience_create(ad_account, *, name: str, customer_list_id: str) -> RemoteAudience:
    """A CUSTOMER_LIST audience wrapping the list (Pinterest accepts it once the list is READY)."""
    return _call(ad_account.connection, lambda client: client.audience_create_from_list(
        ad_account.pinterest_id, name=name, customer_list_id=customer_list_id,
        description="Synced from customer journeys",
    ))


def actalike_create(ad_account, *, name: str, seed_audience_id: str, country: str, percentage: int) -> RemoteAudience:
    return _call(ad_account.connection, lambda client: client.audience_create_actalike(
        ad_account.pinterest_id, name=name, seed_audience_id=seed_audience_id, country=country, percentage=percentage,
    ))


# --- Sending users ------------------------------------------------------------------------------------


def send(audience: Audience, action: str, hashes: list[str]) -> None:
    """One request that adds (or removes) these identifier hashes to the audience's customer list.

    The first add of a new audience creates the list (Pinterest creates
    lists with records only). A remove before any list exists has nothing
    to remove.
    """
    if not audience.ad_account.available:
        raise Held(
            f"Ad account {audience.ad_account} is not visible to the connected Pinterest user. Reconnect as a user "
            "who can use it, or choose another ad account for the step; its users wait meanwhile."
        )
    customer_list = audience_list(audience)
    if customer_list is None:
        if action == "remove":
            return
        _create_list(audience, hashes)
        return
    operation = "ADD" if action == "add" else "REMOVE"
    try:
        _logged(
            audience, operation, customer_list.pinterest_customer_list_id, len(hashes),
            lambda client: client.customer_list_update(
                audience.ad_account.pinterest_id, customer_list.pinterest_customer_list_id,
                operation=operation, records=hashes,
            ),
        )
    except Missing:
        # The list was deleted on Pinterest (Ads Manager can; the API cannot). Its
        # users are no longer there: forget it, so the next batch makes a new list
        # (and the sweeper a new audience from it), and send these again.
        signals.customer_list_missing.send(sender=Audience, audience_id=audience.pk)
        raise TryLater("The audience's customer list was deleted on Pinterest; a new one is made.",
                       retry_after=1.0) from None


def audience_list(audience: Audience) -> AudienceList | None:
    """The customer list the audience wraps (an email list first, for audiences made with one list per type)."""
    # A raw statement (project.db): every batch asks, and compiling the ORM's version cost more than the read.
    return db.instance(AudienceList, "audience_id = %s AND pinterest_customer_list_id <> ''", [audience.pk],
                       order_by="CASE WHEN list_type = %s THEN 0 ELSE 1 END, id", order_params=[EMAIL])


LIST_CREATE_WAIT_SECONDS = 10.0


def _create_list(audience: Audience, hashes: list[str], *, waited: bool = False) -> None:
    lease_name = f"create-list:{audience.pk}"
    owner = uuid.uuid4().hex
    if not leases.acquire(lease_name, owner, seconds=settings.SYNC_LEASE_SECONDS):
        if waited:
            raise TryLater("The audience's customer list is being created.", retry_after=1.0)
        # Another sender is creating it (an audience's first second): wait and
        # send into it, rather than back off and miss the first second's budget.
        _send_when_list_exists(audience, hashes)
        return
    try:
        if audience_list(audience) is not None:
            return send(audience, "add", hashes)
        name = f"{audience.name} · synced"
        adopted = _list_created_by_a_lost_request(audience, name)
        if adopted is not None:
            _store_list(audience, adopted)
            return send(audience, "add", hashes)
        created = _logged(
            audience, "CREATE_LIST", "", len(hashes),
            lambda client: client.customer_list_create(
                audience.ad_account.pinterest_id, name=name, list_type=EMAIL, records=hashes
            ),
        )
        _store_list(audience, created)
    finally:
        leases.release(lease_name, owner)


def _send_when_list_exists(audience: Audience, hashes: list[str]) -> None:
    deadline = time.monotonic() + LIST_CREATE_WAIT_SECONDS
    while True:
        creating = leases.is_live(f"create-list:{audience.pk}")
        if audience_list(audience) is not None:
            return send(audience, "add", hashes)
        if not creating:
            # Its creator stopped without a list (a refused request, or a sender
            # killed mid-request whose lease lapsed): create it here, once,
            # adopting the list a lost request may have made.
            return _create_list(audience, hashes, waited=True)
        if time.monotonic() > deadline:
            raise TryLater("The audience's customer list is being created.", retry_after=1.0)
        time.sleep(0.05)


def _store_list(audience: Audience, customer_list: pinterest.CustomerList) -> None:
    signals.customer_list_created.send(
        sender=Audience, audience_id=audience.pk, customer_list_id=customer_list.id, status=customer_list.status
    )


def _list_created_by_a_lost_request(audience: Audience, name: str) -> pinterest.CustomerList | None:
    """A create whose answer was lost (worker killed, timeout) may have made the list at Pinterest.

    Creating again would split the audience over two lists, so when the send
    log shows such a create, look for the list by its name first.
    """
    lost = SendLog.objects.filter(audience=audience, operation="CREATE_LIST").filter(
        Q(outcome=SendLog.Outcome.STARTED)
        | Q(outcome=SendLog.Outcome.RETRY, http_status__isnull=True)
        | Q(outcome=SendLog.Outcome.RETRY, http_status__gte=500)
    ).exists()
    if not lost:
        return None
    ad_account_id = audience.ad_account.pinterest_id
    bookmark = None
    for _ in range(40):  # up to 10,000 lists
        page = _logged(
            audience, "FIND_LIST", "", 0,
            lambda client: client.customer_lists_page(ad_account_id, bookmark=bookmark, page_size=250),
        )
        found = next((item for item in page.items if item.name == name), None)
        if found is not None or not page.bookmark:
            return found
        bookmark = page.bookmark
    return None


def _logged(audience: Audience, operation: str, list_id: str, size: int, call: Callable[[pinterest.PinterestClient], T]) -> T:
    """Call Pinterest with the audience's connection; a send-log row is written before and completed after."""
    log_id = _log_started(audience.pk, operation, list_id, size)
    ratelimit.take_waited()  # drop what this thread waited for earlier requests
    started = time.monotonic()

    def completed(**fields) -> None:
        waited = ratelimit.take_waited()  # None: no request left (the connection could not be used)
        waited_ms = None if waited is None else int(waited * 1000)
        with transaction.atomic():
            _log_finished(log_id, duration_ms=int((time.monotonic() - started) * 1000),
                          finished_at=db_datetime(timezone.now()), limiter_wait_ms=waited_ms, **fields)
            _count_request(operation, fields["outcome"], fields.get("http_status"), size, waited_ms)

    try:
        result = with_pinterest(audience.ad_account.connection, call)
    except (pinterest.PinterestError, ConnectionUnusable, TokenDecryptionError) as exc:
        if isinstance(exc, ConnectionUnusable | pinterest.AuthError | TokenDecryptionError):
            outcome = SendLog.Outcome.AUTH
        elif isinstance(exc, pinterest.RateLimited | pinterest.TransientError):
            outcome = SendLog.Outcome.RETRY
        else:
            outcome = SendLog.Outcome.FAILED
        completed(outcome=outcome, http_status=getattr(exc, "status", None), error=str(exc)[:1000],
                  pinterest_request_id=getattr(exc, "request_id", "") or "")
        raise _translated(exc) from None
    created_id = getattr(result, "id", list_id) if operation == "CREATE_LIST" else list_id
    completed(outcome=SendLog.Outcome.OK, http_status=200, pinterest_customer_list_id=created_id)
    return result


# The send log's two writes are raw statements: every request makes them, and compiling the ORM's
# INSERT and UPDATE cost more than a small batch's other work.

def _log_started(audience_id: int, operation: str, list_id: str, size: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(SendLog)} (audience_id, operation, list_type, pinterest_customer_list_id, size, "
            "outcome, error, pinterest_request_id, started_at) VALUES (%s, %s, '', %s, %s, %s, '', '', %s) RETURNING id",
            [audience_id, operation, list_id, size, SendLog.Outcome.STARTED, db_datetime(timezone.now())],
        )
        return cursor.fetchone()[0]


_LOG_COLUMNS = {"duration_ms", "finished_at", "limiter_wait_ms", "outcome", "http_status", "error",
                "pinterest_request_id", "pinterest_customer_list_id"}


def _log_finished(log_id: int, **fields) -> None:
    assert set(fields) <= _LOG_COLUMNS, set(fields) - _LOG_COLUMNS  # column names go into the SQL text
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table(SendLog)} SET {', '.join(f'{column} = %s' for column in fields)} WHERE id = %s",
                       [*fields.values(), log_id])


def _count_request(operation: str, outcome: str, http_status: int | None, size: int, waited_ms: int | None) -> None:
    """Add a finished request to the totals /metrics reads (the send log row itself goes with retention)."""
    bucket = -1 if waited_ms is None else bisect_left(LIMITER_WAIT_BOUNDS, waited_ms / 1000)
    add_to_rows(RequestTotal, ("operation", "outcome", "http_status", "wait_bucket"), ("n", "records", "waited_ms"),
                [(operation, outcome, http_status or 0, bucket, 1, size, waited_ms or 0)])
