"""The audit log read as sentences: "Canvas launched", "Member added (role: marketer)".

Services record an action code (`canvas.launch`) and details as ids and
counts (audiences.services.audit); the admin's list shows what happened in
the marketer's words, with the code kept as the sentence's tooltip and on
the event's own page. A code not listed here reads as its words
("snapshot.commit_queued" → "Snapshot commit queued").
"""

from __future__ import annotations

ACTION_WORDS = {
    "canvas.create": "Canvas created",
    "canvas.delete": "Canvas deleted",
    "canvas.launch": "Canvas launched",
    "canvas.stop": "Canvas stopped",
    "step.create": "Step added",
    "step.update": "Step changed",
    "step.delete": "Step deleted",
    "step.move": "Step moved",
    "step.retry_errored": "Errored users retried",
    "user.erase": "User erased",
    "person.lookup": "Person looked up",
    "suppression.add": "Added to the suppression list",
    "suppression.remove": "Taken off the suppression list",
    "alerts.update": "Alert settings changed",
    "import.create": "File uploaded",
    "import.done": "Import finished",
    "import.failed": "Import failed",
    "import.cancelled": "Import cancelled",
    "import.refused": "Import refused (bad rows)",
    "segment.create": "Segment created",
    "segment.update": "Segment changed",
    "snapshot.open": "Segment snapshot started",
    "snapshot.commit": "Segment snapshot applied",
    "snapshot.commit_queued": "Segment snapshot being applied",
    "snapshot.wait": "Segment snapshot waiting for confirmation",
    "snapshot.discard": "Segment snapshot discarded",
    "snapshot.expire": "Segment snapshot expired",
    "source.create": "SQL source added",
    "source.update": "SQL source changed",
    "source.run": "SQL source read",
    "source.run_now": "SQL source read on request",
    "connection.connect": "Pinterest connected",
    "connection.disconnect": "Pinterest disconnected",
    "ad_accounts.choose": "Ad accounts chosen",
    "api_key.create": "API key created",
    "api_key.revoke": "API key revoked",
    "member.add": "Member invited",
    "member.join": "Member joined",
    "member.role": "Member's role changed",
    "member.remove": "Member removed",
    "workspace.update": "Workspace changed",
    "workspace.require_mfa": "Two-factor authentication required of every member",
    "workspace.stop_requiring_mfa": "Two-factor authentication no longer required",
}

# Details that are the event's own ids (shown on its page, not in the sentence).
_IDS = {"canvas", "step", "job", "segment", "snapshot", "source", "run"}
_KEY_WORDS = {
    "kind": "kind", "role": "role", "steps": "steps", "changed": "changed", "direction": "moved",
    "position": "now step", "entries": "entries", "unlisted": "taken off Pinterest", "emails": "emails",
    "webhook": "webhook", "rows": "rows", "rows_read": "rows read", "rows_entered": "entered",
    "rows_refused": "refused", "size": "bytes", "state": "state", "records_found": "found in",
    "ad_accounts_enabled": "ad accounts", "every_minutes": "every (minutes)", "enabled": "on",
    "days": "days", "confirmed": "confirmed", "status": "status", "where": "from",
    "max_removal_percent": "most removed at once (%)",
}


def action_words(code: str) -> str:
    return ACTION_WORDS.get(code) or code.replace(".", " ").replace("_", " ").capitalize()


def _value_words(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return f"{len(value):,}"  # ids mean nothing to a reader; how many does
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_value_words(v)}" for k, v in value.items()) or "none"
    return str(value).replace("_", " ")


def details_words(details: dict | None) -> str:
    """The details a marketer reads ("role: marketer; steps: 2"), ids left out; empty when none."""
    parts = [f"{_KEY_WORDS.get(key, key.replace('_', ' '))}: {_value_words(value)}"
             for key, value in (details or {}).items() if key not in _IDS and value not in (None, "", [], {})]
    return "; ".join(parts)


def event_sentence(code: str, details: dict | None) -> str:
    said = details_words(details)
    return f"{action_words(code)} ({said})" if said else action_words(code)
