"""Which list is sent next: the sender's policy, free of I/O so it can be read and tested alone.

Each Pinterest user (token) has its own budget of requests, shared by every
list that uses it. For each token, the lists that may go now are:

- a list with a full batch due (SYNC_BATCH_SIZE users): at once, and as
  many requests as it has full batches, while the token has room;
- a list with fewer: once its longest-waiting user has waited a window
  (SYNC_WINDOW_SECONDS), one request with everyone due; or sooner, when the
  token has nothing else to send and no user has reached the list for a
  moment (`quiet`): the tail of a burst then goes at once instead of waiting
  a window, using budget that would otherwise be lost.

Among them the list that has waited longest for a turn goes first: its
wait counts from its longest-waiting user's arrival or from its last
request, whichever is later. Lists with a backlog therefore take turns,
and a list whose users just arrived is not stuck behind another list's
backlog. Fuller batches are preferred over more requests by the window
rule; when a token's lists together want more than its rate allows, their
users wait longer and ride in fuller batches, each list getting a request
about every (lists / rate) seconds. How many requests of one token are in
flight at once is bounded, so one token's backlog never takes the room of
another's.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

ListKey = tuple[int, str]  # (audience id, action)


@dataclass
class ListState:
    key: ListKey
    token: str  # the rate-limit key of the list's Pinterest user
    usable: bool = True  # False while its connection is invalid: its users wait
    oldest_due: datetime | None = None  # when its longest-waiting user became due (None: nobody waits)
    due: int = 0  # users due now, counted up to a cap
    in_flight: int = 0  # requests submitted and not finished
    served_at: datetime | None = None  # when its last request was started
    stale: bool = True  # `oldest_due` and `due` need reading again
    touched_at: datetime | None = None  # when users last reached it


@dataclass(frozen=True)
class Job:
    key: ListKey
    token: str
    at_least: int  # a full batch (SYNC_BATCH_SIZE) or 1 for a flush of everyone due


def next_jobs(lists: dict[ListKey, ListState], *, now: datetime, window: timedelta, batch: int,
              per_token: int, quiet: timedelta = timedelta(seconds=1)) -> list[Job]:
    """The requests to start now, oldest-waiting list first within each token's free room."""
    busy: dict[str, int] = {}
    for state in lists.values():
        busy[state.token] = busy.get(state.token, 0) + state.in_flight
    heap = []
    turn = itertools.count()  # equal waits: first come, first served
    for state in lists.values():
        if not state.usable or state.oldest_due is None or state.due <= 0 or state.oldest_due > now:
            continue
        full = state.due // batch - state.in_flight
        flush = state.in_flight == 0 and state.oldest_due <= now - window
        if full > 0 or flush:
            waiting_since = max(state.oldest_due, state.served_at) if state.served_at else state.oldest_due
            heapq.heappush(heap, (waiting_since, next(turn), state.key, max(full, 0)))
    jobs = []
    while heap:
        _, _, key, full = heapq.heappop(heap)
        state = lists[key]
        if busy.get(state.token, 0) >= per_token:
            continue
        busy[state.token] = busy.get(state.token, 0) + 1
        jobs.append(Job(key, state.token, batch if full > 0 else 1))
        if full > 1:
            heapq.heappush(heap, (now, next(turn), key, full - 1))  # it had its turn: behind the others now
    jobs.extend(_idle_flushes(lists, busy, {job.key for job in jobs}, now=now, quiet=quiet, per_token=per_token))
    return jobs


def _idle_flushes(lists: dict[ListKey, ListState], busy: dict[str, int], chosen: set[ListKey], *, now: datetime,
                  quiet: timedelta, per_token: int) -> list[Job]:
    """Partial batches of quiet lists, for tokens with nothing in flight and nothing else to send."""
    idle = {token for token, n in busy.items() if n == 0}
    quiet_lists = sorted(
        (state for state in lists.values()
         if state.token in idle and state.key not in chosen and state.usable and not state.in_flight
         and state.due > 0 and state.oldest_due is not None and state.oldest_due <= now
         and state.touched_at is not None and state.touched_at <= now - quiet),
        key=lambda state: state.oldest_due,
    )
    jobs = []
    for state in quiet_lists:
        if busy.get(state.token, 0) < per_token:
            busy[state.token] = busy.get(state.token, 0) + 1
            jobs.append(Job(state.key, state.token, 1))
    return jobs
