"""Work on a few records (the next batch, the next users out of a delay, one user suppressed or erased)
costs the same whatever is behind them (DESIGN rule 11: cost flat in history)."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from audiences import services
from audiences.models import SyncRecord
from audiences.sending import records
from audiences.services import delays
from audiences.services.steps import HashedUser
from tests.conftest import make_users

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite",
                                reason="counts SQLite's virtual machine steps")

STEPS_PER_TICK = 10


def vm_work(action) -> tuple[object, int]:
    """(what `action()` answers, SQLite VM steps / STEPS_PER_TICK while it ran)."""
    ticks = 0

    def tick():
        nonlocal ticks
        ticks += 1
        return 0  # go on

    connection.ensure_connection()
    connection.connection.set_progress_handler(tick, STEPS_PER_TICK)
    try:
        answer = action()
    finally:
        connection.connection.set_progress_handler(None, STEPS_PER_TICK)
    return answer, ticks


def claim(step):
    return len(records.claim(step.audience_id, step.action, owner="sender", now=timezone.now(), at_least=1))


def test_claiming_a_batch_does_as_much_work_behind_1000_waiting_users_as_behind_20000(add_canvas, settings):
    settings.SYNC_BATCH_SIZE = 100
    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(1_000))
    claimed_small, work_small = vm_work(lambda: claim(step))

    services.users_enter(canvas=add_canvas, users=make_users(19_100, start=1_000))
    claimed_large, work_large = vm_work(lambda: claim(step))

    assert claimed_small == claimed_large == 100
    # Each claim reads and leases its 100 users; walking the 20,000 due ones to find them would be ~20x.
    assert work_large < 1.5 * work_small, (work_small, work_large)


def release(step, now):
    with transaction.atomic():
        return len(delays.delay_records_release(step=step, now=now, leaving_canvas=False, limit=100))


def test_releasing_users_from_a_delay_does_as_much_work_behind_1000_waiting_users_as_behind_20000(acme):
    canvas = services.canvas_create(workspace=acme, name="Wait a day")
    step = services.step_create_delay(canvas=canvas, seconds=60)
    now = timezone.now()
    users = [HashedUser(f"user-{i}", f"{i:064x}") for i in range(20_000)]
    delays.delay_records_insert(step=step, users=users[:1_000], now=now - timedelta(minutes=5))
    released_small, work_small = vm_work(lambda: release(step, now))

    delays.delay_records_insert(step=step, users=users[1_000:], now=now)  # still waiting
    released_large, work_large = vm_work(lambda: release(step, now))

    assert released_small == released_large == 100
    assert work_large < 1.5 * work_small, (work_small, work_large)


def suppress(step, external_id):
    return records.skip_pending_user(step_ids=[step.pk], external_id=external_id, adds_only=True, now=timezone.now())


def test_suppressing_one_user_does_as_much_work_behind_1000_pending_users_as_behind_20000(add_canvas):
    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(1_000))
    suppress(step, "user-3")  # the statements prepared once, outside the counts
    skipped_small, work_small = vm_work(lambda: suppress(step, "user-7"))

    services.users_enter(canvas=add_canvas, users=make_users(19_000, start=1_000))
    skipped_large, work_large = vm_work(lambda: suppress(step, "user-1234"))

    assert skipped_small == skipped_large == (1, 0)
    assert work_large < 1.5 * work_small, (work_small, work_large)


def test_erasing_one_user_does_as_much_work_behind_1000_records_as_behind_20000(add_canvas):
    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(1_000))
    SyncRecord.objects.update(state=SyncRecord.State.SYNCED)  # history: what erasure deletes
    records.erase_user(step_ids=[step.pk], external_id="user-3")
    erased_small, work_small = vm_work(lambda: records.erase_user(step_ids=[step.pk], external_id="user-7"))

    services.users_enter(canvas=add_canvas, users=make_users(19_000, start=1_000))
    SyncRecord.objects.update(state=SyncRecord.State.SYNCED)
    erased_large, work_large = vm_work(lambda: records.erase_user(step_ids=[step.pk], external_id="user-1234"))

    assert erased_small == erased_large == 1
    assert work_large < 1.5 * work_small, (work_small, work_large)
