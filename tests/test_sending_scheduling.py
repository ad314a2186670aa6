"""Which list is sent next: oldest-waiting first within each Pinterest user's room, full batches at once."""

from datetime import datetime, timedelta, timezone

from audiences.sending.scheduling import ListState, next_jobs

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
WINDOW = timedelta(seconds=5)


def state(audience_id: int, *, token: str = "alice", waited: float, due: int, in_flight: int = 0, usable=True):
    return ListState((audience_id, "add"), token, usable=usable, oldest_due=NOW - timedelta(seconds=waited), due=due,
                     in_flight=in_flight, stale=False)


def plan(*states, per_token: int = 6, batch: int = 1900):
    return next_jobs({s.key: s for s in states}, now=NOW, window=WINDOW, batch=batch, per_token=per_token)


def test_it_waits_a_window_before_sending_a_partial_batch():
    assert plan(state(1, waited=4.9, due=30)) == []
    [job] = plan(state(1, waited=5.0, due=30))
    assert (job.key, job.at_least) == ((1, "add"), 1)


def test_it_sends_full_batches_at_once_and_as_many_as_the_token_has_room_for():
    jobs = plan(state(1, waited=0.1, due=1900 * 10), per_token=6)
    assert [job.at_least for job in jobs] == [1900] * 6


def test_the_list_whose_users_waited_longest_goes_first():
    jobs = plan(*(state(i, waited=5 + i, due=20) for i in range(10)), per_token=3)
    assert [job.key[0] for job in jobs] == [9, 8, 7]


def test_one_users_backlog_never_takes_another_users_room():
    jobs = plan(state(1, token="alice", waited=60, due=1900 * 50), state(2, token="bob", waited=6, due=10), per_token=4)
    assert sorted(job.key[0] for job in jobs) == [1, 1, 1, 1, 2]


def test_requests_in_flight_count_against_the_room_and_a_list_flushes_once_at_a_time():
    busy = state(1, waited=30, due=100, in_flight=1)
    assert plan(busy, state(2, waited=6, due=10, in_flight=0), per_token=2) == [
        plan(state(2, waited=6, due=10))[0]
    ]
    assert plan(state(3, waited=30, due=100, in_flight=6), per_token=6) == []


def test_a_list_whose_connection_is_invalid_waits():
    assert plan(state(1, waited=60, due=5000, usable=False)) == []


def test_lists_with_a_backlog_take_turns_and_a_new_list_is_not_stuck_behind_them():
    backlog = state(1, waited=30, due=1900 * 20)
    backlog.served_at = NOW - timedelta(seconds=0.2)
    fresh = state(2, waited=6, due=40)
    jobs = plan(backlog, fresh, per_token=1)
    assert [job.key[0] for job in jobs] == [2]

    other_backlog = state(3, waited=30, due=1900 * 20)
    other_backlog.served_at = NOW - timedelta(seconds=0.5)
    assert [job.key[0] for job in plan(backlog, other_backlog, per_token=3)] == [3, 1, 3]


def test_the_tail_of_a_burst_goes_at_once_when_its_user_has_nothing_else_to_send():
    tail = state(1, waited=1.5, due=300)
    tail.touched_at = NOW - timedelta(seconds=1.5)
    assert [(job.key[0], job.at_least) for job in plan(tail)] == [(1, 1)]

    still_arriving = state(2, waited=1.5, due=300)
    still_arriving.touched_at = NOW - timedelta(seconds=0.2)
    assert plan(still_arriving) == []
    busy_token = state(3, waited=1.5, due=300, in_flight=0)
    busy_token.touched_at = NOW - timedelta(seconds=2)
    other_list_in_flight = state(4, waited=0.5, due=0, in_flight=1)
    assert plan(busy_token, other_list_in_flight) == []  # the token is busy: the window rule decides
