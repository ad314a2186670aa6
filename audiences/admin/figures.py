"""The figures of the step analytics page that go beyond the seven numbers.

What was sent per identifier type, the Pinterest list(s) and audience with
their status and size, a plain sentence where Pinterest's size differs from
what was sent, how soon synced users reached Pinterest (from the step's
latency histogram), and the send log as a marketer reads it (a held batch is one
event, not one row per chunk that never left). Every figure here is read from
counts moved with the records, never from the records: a page view costs the
same with a thousand records or a billion, and retention deleting old records
changes none of them.
"""

from __future__ import annotations

from audiences import metrics, step_counts
from audiences.models import EMAIL, IDFA, MAID, Audience, SendLog, Step

TYPE_WORDS = {EMAIL: "Emails", IDFA: "iOS IDFAs", MAID: "Android advertising ids"}
OPERATION_WORDS = {"ADD": "Add users", "REMOVE": "Remove users", "CREATE_LIST": "Create the customer list",
                   "CREATE_AUDIENCE": "Create the audience"}
PINTEREST_STATUS_WORDS = {
    "READY": "ready", "TOO_SMALL": "too small to target: fewer than about 100 matched users; it needs more users",
    "PROCESSING": "processing the latest users", "UPLOADING": "uploading", "MATCHING": "matching users",
    "EXPIRED": "expired", "DELETED": "deleted on Pinterest",
}


def pinterest_status_words(status: str) -> str:
    return PINTEREST_STATUS_WORDS.get(status, status.replace("_", " ").lower()) if status else ""


def sent_per_type(step: Step) -> dict:
    """How many synced users of the step carried each identifier type (read from the step's counts)."""
    counts = step_counts.sent_types_for_step(step.pk)
    rows = [
        {"type": list_type, "label": TYPE_WORDS[list_type], "count": counts.get(list_type, 0), "matched": matched}
        for list_type, matched in ((EMAIL, step.match_email), (IDFA, step.match_idfa), (MAID, step.match_android_aid))
    ]
    return {
        "rows": [row for row in rows if row["matched"] or row["count"]],
        "identifiers": sum(counts.values()),
    }


def audience_lists(audience: Audience) -> list[dict]:
    return [
        {
            "id": item.pinterest_customer_list_id or "not created yet",
            "status": pinterest_status_words(item.pinterest_status) or "not created yet",
            "holds": "emails, iOS IDFAs and Android advertising ids",
        }
        for item in audience.lists.order_by("pk")
    ]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "more than a day"
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} hours"


def time_to_pinterest_sentence(step: Step) -> str:
    """How soon synced users reached Pinterest after entering, in words (empty before anyone did)."""
    times = metrics.time_to_pinterest(step)
    if times is None:
        return ""
    median, p95 = _duration(times.median_within), _duration(times.p95_within)
    if median == p95:
        return f"95% of the synced users reached Pinterest within {p95} of entering this step."
    return f"Half of the synced users reached Pinterest within {median} of entering this step, and 95% within {p95}."


def send_log_rows(audience: Audience, *, limit: int = 20) -> list[dict]:
    """Recent requests that reached Pinterest, and held batches as one event each."""
    rows: list[dict] = []
    held: dict | None = None
    for log in SendLog.objects.filter(audience=audience)[: limit * 5]:
        reached = log.http_status is not None
        if not reached and log.outcome != SendLog.Outcome.STARTED:
            # Chunks held back without calling Pinterest (for example while the token was invalid).
            if held is not None and held["outcome"] == log.get_outcome_display() and held["error"] == log.error:
                held["size"] += log.size
                held["started_at"] = log.started_at
                continue
            held = {"started_at": log.started_at, "operation": _operation(log), "list": "", "size": log.size,
                    "outcome": log.get_outcome_display(), "outcome_key": log.outcome, "http": "",
                    "duration": "", "error": log.error, "note": "held, not sent"}
            rows.append(held)
        else:
            held = None
            rows.append({"started_at": log.started_at, "operation": _operation(log),
                         "list": log.pinterest_customer_list_id, "size": log.size,
                         "outcome": log.get_outcome_display(), "outcome_key": log.outcome,
                         "http": log.http_status or "", "duration": log.duration_ms if log.duration_ms is not None else "",
                         "error": log.error, "note": ""})
        if len(rows) >= limit:
            break
    return rows


def _operation(log: SendLog) -> str:
    return OPERATION_WORDS.get(log.operation, log.operation.replace("_", " ").capitalize())
