"""A segment's snapshots keep its step's audience equal to the segment: newcomers added, leavers removed."""

from datetime import timedelta
from math import ceil

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from audiences import tasks
from audiences.metrics import step_metrics
from audiences.models import AuditEvent, SendLog, Snapshot
from audiences.sending.pump import send_due_now
from audiences.services import segments_sql
from tests.segments_support import (
    emails,
    list_records,
    members,
    patch_requests,
    segment_of,
    segments,
    snapshot_send,
)

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_it_sends_only_1000_removes_and_500_adds_when_1000_leave_and_500_join(sandbox, add_canvas):
    segment = segment_of(add_canvas)
    first = snapshot_send(segment, range(10_000))
    send_due_now()
    assert first.state == Snapshot.State.COMMITTED and first.added == 10_000
    assert list_records(sandbox) == emails(range(10_000))
    before = len(patch_requests(sandbox))

    second_ids = list(range(1_000, 10_500))  # users 0-999 leave, 10,000-10,499 join
    second = snapshot_send(segment, second_ids)
    send_due_now()

    assert (second.state, second.members, second.added, second.removed) == (Snapshot.State.COMMITTED, 9_500, 500, 1_000)
    assert list_records(sandbox) == emails(second_ids)
    sent = patch_requests(sandbox)[before:]
    per_request = settings.SYNC_BATCH_SIZE
    assert len(sent) == ceil(1_000 / per_request) + ceil(500 / per_request)
    assert sum(r["records"] for r in sent) == 1_500
    logged = SendLog.objects.filter(outcome="ok").order_by("id")
    removes = [log.size for log in logged if log.operation == "REMOVE"]
    adds_after = [log.size for log in logged if log.operation == "ADD"][-ceil(500 / per_request):]
    assert sum(removes) == 1_000 and sum(adds_after) == 500
    numbers = step_metrics(add_canvas.steps.get())
    assert numbers.entered == 11_500  # 10,500 adds and 1,000 removes, each a user through the step
    assert numbers.synced == 11_500 and numbers.pending == 0


def test_it_sends_nothing_for_a_snapshot_never_committed(sandbox, add_canvas):
    segment = segment_of(add_canvas)
    snapshot_send(segment, range(50))
    send_due_now()
    before = len(patch_requests(sandbox))

    open_snapshot = segments.snapshot_open(segment, source="api", actor="test")
    segments.snapshot_add(open_snapshot, members(range(40, 60)))
    send_due_now()

    assert len(patch_requests(sandbox)) == before
    assert list_records(sandbox) == emails(range(50))
    segment.refresh_from_db()
    assert segment.members == 50
    assert step_metrics(add_canvas.steps.get()).entered == 50


def test_a_snapshot_never_committed_is_discarded_with_its_members_after_a_week(sandbox, add_canvas):
    segment = segment_of(add_canvas)
    snapshot_send(segment, range(50))
    send_due_now()
    with time_machine.travel(timezone.now() - timedelta(days=8)):
        abandoned = segments.snapshot_open(segment, source="api", actor="partner")
        segments.snapshot_add(abandoned, members(range(40, 60)))
        waiting = snapshot_send(segment, range(2))  # would remove 96%: waits for a confirmation that never came
    recent = segments.snapshot_open(segment, source="api", actor="partner")
    segments.snapshot_add(recent, members(range(5)))

    tasks.retention()

    for snapshot in (abandoned, waiting):
        snapshot.refresh_from_db()
        assert snapshot.state == Snapshot.State.DISCARDED and "not committed within 7 days" in snapshot.note
        assert segments_sql.count_members(snapshot.pk) == 0
        with pytest.raises(segments.NotAllowed):
            segments.snapshot_commit(snapshot, actor="marketer", confirmed=True)
    recent.refresh_from_db()
    assert recent.state == Snapshot.State.OPEN and segments_sql.count_members(recent.pk) == 5
    assert AuditEvent.objects.filter(action="snapshot.expire").count() == 2
    send_due_now()
    assert list_records(sandbox) == emails(range(50))


def test_it_waits_for_confirmation_before_removing_90_percent(sandbox, add_canvas):
    segment = segment_of(add_canvas)
    snapshot_send(segment, range(100))
    send_due_now()
    before = len(patch_requests(sandbox))

    truncated = snapshot_send(segment, range(10))
    send_due_now()

    assert truncated.state == Snapshot.State.WAITING
    assert truncated.removed == 90 and "90%" in truncated.note
    assert len(patch_requests(sandbox)) == before and list_records(sandbox) == emails(range(100))

    confirmed = segments.snapshot_commit(truncated, actor="marketer", confirmed=True)
    send_due_now()
    assert confirmed.state == Snapshot.State.COMMITTED
    assert list_records(sandbox) == emails(range(10))


def test_it_lets_the_marketer_raise_the_share_removed_without_asking(sandbox, add_canvas):
    segment = segment_of(add_canvas, max_removal_percent=95)
    snapshot_send(segment, range(100))
    assert snapshot_send(segment, range(10)).state == Snapshot.State.COMMITTED


def test_it_sends_nothing_for_a_discarded_snapshot(sandbox, add_canvas):
    segment = segment_of(add_canvas)
    snapshot_send(segment, range(20))
    send_due_now()
    waiting = snapshot_send(segment, [])
    assert waiting.state == Snapshot.State.WAITING
    segments.snapshot_discard(waiting, actor="marketer")
    send_due_now()
    assert list_records(sandbox) == emails(range(20))
    with pytest.raises(segments.NotAllowed):
        segments.snapshot_commit(waiting, actor="marketer", confirmed=True)


def test_it_resends_a_member_whose_identifiers_changed(sandbox, add_canvas):
    segment = segment_of(add_canvas)
    snapshot_send(segment, range(5))
    snapshot = segments.snapshot_open(segment, source="api", actor="test")
    segments.snapshot_add(snapshot, members(range(4)) + [{"external_id": "user-4", "email": "new4@example.com"}])
    done = segments.snapshot_commit(snapshot, actor="test")
    assert (done.added, done.changed, done.removed) == (0, 1, 0)


def test_staff_send_a_file_as_the_whole_segment(sandbox, add_canvas, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    step = add_canvas.steps.get()
    first, second = tmp_path / "june.csv", tmp_path / "july.csv"
    first.write_text("External ID,Email\n" + "".join(f"user-{i},user{i}@example.com\n" for i in range(30)))
    second.write_text("external_id,email\n" + "".join(f"user-{i},user{i}@example.com\n" for i in range(10, 35)))
    call_command("segment_snapshot", "--workspace", "acme", "--step", str(step.pk), str(first))
    call_command("segment_snapshot", "--workspace", "acme", "--step", str(step.pk), str(second))
    send_due_now()
    assert list_records(sandbox) == emails(range(10, 35))

    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,email\nuser-1,user1@example.com\nuser-2,nope\n")
    with pytest.raises(CommandError, match="line 3"):
        call_command("segment_snapshot", "--workspace", "acme", "--step", str(step.pk), str(bad))
    assert list_records(sandbox) == emails(range(10, 35))


class WorkerKilled(BaseException):
    """What a worker's death looks like from inside: nothing after it runs."""


def test_a_commit_cut_off_resumes_and_nobody_enters_twice(sandbox, add_canvas, monkeypatch):
    from audiences import leases

    monkeypatch.setattr(segments, "APPLY_CHUNK", 10)
    segment = segment_of(add_canvas)
    snapshot = segments.snapshot_open(segment, source="api", actor="test")
    segments.snapshot_add(snapshot, members(range(25)))
    renewals = []

    def dies_on_second_renewal(*args, **kwargs):
        renewals.append(1)
        if len(renewals) == 2:
            raise WorkerKilled
        return True

    with monkeypatch.context() as patch:
        patch.setattr(leases, "renew", dies_on_second_renewal)
        with pytest.raises(WorkerKilled):
            segments.snapshot_commit(snapshot, actor="test")
    snapshot.refresh_from_db()
    assert snapshot.state == Snapshot.State.COMMITTING
    assert step_metrics(add_canvas.steps.get()).entered == 20  # two chunks of 10 were written before it died

    leases.release_any(f"segment-commit:{segment.pk}")  # the dead worker's lease lapses
    done = segments.snapshot_commit(snapshot, actor="test")
    send_due_now()
    assert done.state == Snapshot.State.COMMITTED
    assert step_metrics(add_canvas.steps.get()).entered == 25
    assert list_records(sandbox) == emails(range(25))
