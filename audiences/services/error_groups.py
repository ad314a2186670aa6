"""A step's errored users grouped by cause, each cause in a marketer's words with what to do next.

Pinterest's answer ("Invalid records · HTTP 400 · code 1 · request d0459f")
differs per request only in its request id, and the retry sweeper prefixes
"Gave up after 13 hours: ", so one cause would be listed once per batch.
Grouping strips the request id, sorts the cause into a kind a marketer can
act on, and keeps Pinterest's own text for a "details" disclosure. Reading is
one GROUP BY over the step's errored records (index syncrecord_step_state).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from django.db import connection

from audiences.models import Step, SyncRecord

REQUEST_ID = re.compile(r"\s*·\s*request\s+\S+")
GAVE_UP = re.compile(r"^Gave up after ([\d.]+) hours:\s*")
HTTP = re.compile(r"HTTP (\d{3})")

# kind -> (title, explanation, next step)
KINDS = {
    "connection": ("Pinterest refused the workspace's sign-in",
                   "The connection to Pinterest was revoked or expired while these users waited.",
                   "Reconnect Pinterest on the workspace's Pinterest page, then retry them."),
    "not_found": ("Pinterest no longer finds the ad account, list or audience",
                  "The ad account was closed or the connected Pinterest user lost access to it, or the list was "
                  "deleted on Pinterest.",
                  "Check the ad account in Pinterest Ads Manager, or choose another one in the step, then retry."),
    "forbidden": ("The connected Pinterest user may not change this ad account",
                  "Pinterest accepts the sign-in but refuses writes to this ad account for that user.",
                  "Give the Pinterest user access to the ad account (or reconnect as one who has it), then retry."),
    "refused": ("Pinterest refused these users' data",
                "Pinterest answered that the request was not valid for these users.",
                "Check what Pinterest said below; retry once the cause is fixed."),
    "unreachable": ("Pinterest was busy or could not be reached",
                    "Pinterest kept answering “try later” (or not at all) until the retry window ran out.",
                    "Retry them: they are sent again at once."),
    "not_sent": ("Not sent within the retry window",
                 "These users waited without being sent: Pinterest was not connected, the connection needed "
                 "reconnecting, or the service's sender was not running.",
                 "Check the Pinterest page (the banner above says if it needs you), then retry them."),
    "other": ("Not sent, for another reason", "", "Retry them; if they error again, contact support with the details."),
}


@dataclass
class ErrorGroup:
    kind: str
    title: str
    explanation: str
    next_step: str
    said: str  # Pinterest's (or the sender's) own words, the request id removed
    gave_up_hours: str = ""
    users: int = 0
    last_errors: list[str] = field(default_factory=list)  # the raw texts this group gathers: what a retry selects

    @property
    def key(self) -> str:
        """A short stable name of the group, for its retry button."""
        return hashlib.sha256(f"{self.kind}|{self.said}".encode()).hexdigest()[:16]


def cause_of(last_error: str) -> tuple[str, str, str]:
    """(kind, Pinterest's words without the request id, hours of retrying given up after or "")."""
    text = last_error or ""
    hours = ""
    gave_up = GAVE_UP.match(text)
    if gave_up:
        hours, text = gave_up.group(1), text[gave_up.end():]
    said = REQUEST_ID.sub("", text).strip() or "No reason was recorded."
    status = HTTP.search(said)
    code = int(status.group(1)) if status else None
    lowered = said.lower()
    if said.startswith("Not sent within the retry window"):
        kind = "not_sent"
    elif code == 401 or "reconnect" in lowered or "token" in lowered:
        kind = "connection"
    elif code == 404:
        kind = "not_found"
    elif code == 403:
        kind = "forbidden"
    elif code is not None and 400 <= code < 500 and code != 429:
        kind = "refused"
    elif code == 429 or (code is not None and code >= 500) or "timed out" in lowered or "retry window" in lowered \
            or "try later" in lowered or "rate limit" in lowered:
        kind = "unreachable"
    else:
        kind = "other"
    return kind, said, hours


def group_errors(rows: list[tuple[str, int]]) -> list[ErrorGroup]:
    """Group (last error, users) pairs by cause; the largest group first."""
    groups: dict[tuple[str, str], ErrorGroup] = {}
    for last_error, users in rows:
        kind, said, hours = cause_of(last_error)
        group = groups.get((kind, said))
        if group is None:
            title, explanation, next_step = KINDS[kind]
            group = groups[(kind, said)] = ErrorGroup(kind, title, explanation, next_step, said, hours)
        group.users += users
        group.last_errors.append(last_error)
    return sorted(groups.values(), key=lambda g: (-g.users, g.title, g.said))


def errored_groups(step: Step) -> list[ErrorGroup]:
    """The step's errored users grouped by cause."""
    # The partial index `syncrecord_step_errors` answers this alone, whatever the step's history, when
    # the state is written as a literal: SQLite cannot use a partial index for a bound `state = ?`.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT last_error, COUNT(*) FROM {SyncRecord._meta.db_table} "
            f"WHERE step_id = %s AND state = '{SyncRecord.State.ERRORED.value}' GROUP BY last_error",
            [step.pk],
        )
        return group_errors(cursor.fetchall())
