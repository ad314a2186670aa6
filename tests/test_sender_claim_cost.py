"""Taking the next users to move costs the same whatever waits behind them (DESIGN rule 11: cost flat in history)."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from audiences import services
from audiences.sending import records
from audiences.services import delays
from audiences.services.steps import HashedUser
from tests.conftest import make_users

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite",
                                reason="counts SQLite's virtual machine steps")

STEPS_PER_TICK = 100


def claim_work(step, batch_size: int) -> tuple[int, int]:
    """(users claimed, SQLite VM steps / STEPS_PER_TICK) for one claim of a batch."""
    ticks = 0

    def tick():
        nonlocal ticks
        ticks += 1
        return 0  # go on

    connection.ensure_connection()
    connection.connection.set_progress_handler(tick, STEPS_PER_TICK)
    try:
        claimed = records.claim(step.audience_id, step.action, owner=f"sender-{batch_size}-{ticks}",
                                now=timezone.now(), at_least=1)
    finally:
        connection.connection.set_progress_handler(None, STEPS_PER_TICK)
    return len(claimed), ticks


def test_claiming_a_batch_does_as_much_work_behind_1000_waiting_users_as_behind_20000(add_canvas, settings):
    settings.SYNC_BATCH_SIZE = 100
    step = add_canvas.steps.get()
    services.users_enter(canvas=add_canvas, users=make_users(1_000))
    claimed_small, work_small = claim_work(step, 100)

    services.users_enter(canvas=add_canvas, users=make_users(19_100, start=1_000))
    claimed_large, work_large = claim_work(step, 100)

    assert claimed_small == claimed_large == 100
    # Each claim reads and leases its 100 users; walking the 20,000 due ones to find them would be ~20x.
    assert work_large < 1.5 * work_small, (work_small, work_large)


def release_work(step, now) -> tuple[int, int]:
    """(users released, SQLite VM steps / STEPS_PER_TICK) for one release of 100 users whose wait is over."""
    ticks = 0

    def tick():
        nonlocal ticks
        ticks += 1
        return 0

    connection.ensure_connection()
    connection.connection.set_progress_handler(tick, STEPS_PER_TICK)
    try:
        with transaction.atomic():
            released = delays.delay_records_release(step=step, now=now, leaving_canvas=False, limit=100)
    finally:
        connection.connection.set_progress_handler(None, STEPS_PER_TICK)
    return len(released), ticks


def test_releasing_users_from_a_delay_does_as_much_work_behind_1000_waiting_users_as_behind_20000(acme):
    canvas = services.canvas_create(workspace=acme, name="Wait a day")
    step = services.step_create_delay(canvas=canvas, seconds=60)
    now = timezone.now()
    users = [HashedUser(f"user-{i}", f"{i:064x}") for i in range(20_000)]
    delays.delay_records_insert(step=step, users=users[:1_000], now=now - timedelta(minutes=5))
    released_small, work_small = release_work(step, now)

    delays.delay_records_insert(step=step, users=users[1_000:], now=now)  # still waiting
    released_large, work_large = release_work(step, now)

    assert released_small == released_large == 100
    assert work_large < 1.5 * work_small, (work_small, work_large)
