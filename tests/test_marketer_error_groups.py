"""Errored users grouped by cause, in a marketer's words, whatever Pinterest's request ids."""

from __future__ import annotations

from audiences.services.error_groups import cause_of, group_errors


def test_one_cause_over_many_requests_is_one_group():
    rows = [(f"Invalid records · HTTP 400 · code 1 · request {i:06x}", 14) for i in range(50)]
    rows.append(("Gave up after 13 hours: Too many requests · HTTP 429 · request abc", 3))
    groups = group_errors(rows)
    assert [(g.users, g.title) for g in groups] == [
        (700, "Pinterest refused these users' data"),
        (3, "Pinterest was busy or could not be reached"),
    ]
    assert groups[0].said == "Invalid records · HTTP 400 · code 1"
    assert len(groups[0].last_errors) == 50  # a retry of the group selects all of them
    assert groups[1].gave_up_hours == "13"
    assert groups[0].key != groups[1].key


def test_each_cause_gets_its_next_step():
    assert cause_of("Unauthorized · HTTP 401")[0] == "connection"
    assert cause_of("Ad account not found · HTTP 404 · code 2")[0] == "not_found"
    assert cause_of("Forbidden · HTTP 403")[0] == "forbidden"
    assert cause_of("Gave up after 13 hours: Pinterest is not connected for Acme; reconnect.")[0] == "connection"
    assert cause_of("")[1] == "No reason was recorded."


def test_users_never_sent_in_time_are_told_apart_from_users_pinterest_refused():
    groups = group_errors([("Gave up after 13 hours: Not sent within the retry window.", 7),
                           ("Bad email hash · HTTP 400 · code 1 · request 1", 5)])
    assert [(g.users, g.title) for g in groups] == [(7, "Not sent within the retry window"),
                                                     (5, "Pinterest refused these users' data")]
    assert "Check the Pinterest page" in groups[0].next_step


def test_a_long_reason_in_any_script_is_kept_to_1000_bytes_and_grouped(db, sandbox, add_canvas):
    from django.utils import timezone

    from audiences import services
    from audiences.models import SyncRecord
    from audiences.sending import records
    from audiences.services.error_groups import errored_groups
    from tests.conftest import make_users

    services.users_enter(canvas=add_canvas, users=make_users(30))
    step = add_canvas.steps.get()
    claimed = records.claim(step.audience_id, step.action, owner="sender", now=timezone.now(), at_least=1)
    reason = "Pinterest a refusé « Été 2026 » · HTTP 400 · " + "Ω日本" * 900  # about 8,000 bytes
    records.finish("sender", [(record, records.Error(reason)) for record in claimed], now=timezone.now())

    stored = set(SyncRecord.objects.filter(step=step).values_list("last_error", flat=True))
    assert len(stored) == 1
    kept = stored.pop()
    assert reason.startswith(kept) and 997 <= len(kept.encode()) <= 1000
    assert [(group.users, group.title) for group in errored_groups(step)] == [
        (30, "Pinterest refused these users' data")
    ]
