"""A worker cluster keeps running tasks after its processes are killed (SIGKILL, as the OOM killer does)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django_q.models import Task
from django_q.tasks import async_task

from tests.faults.processes import Processes, children, service_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def ran(task_id: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Task.objects.filter(id=task_id, success=True).exists():
            return True
        time.sleep(0.2)
    return False


def cluster_takes_tasks(run: Processes) -> bool:
    """The new cluster runs a task: the warm-up before the kill."""
    if ran(async_task("math.floor", 2.5), timeout=45):
        return True
    print(run.log_tail(400))
    return False


def wait_for_children(pid: int, count: int, timeout: float = 30, *, replacing: tuple[int, ...] = ()) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [child for child in children(pid) if child not in replacing]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"the cluster did not start its {count} processes")


def test_a_cluster_whose_processes_were_killed_runs_the_next_task(sandbox, tmp_path):
    run = Processes(service_env(sandbox.url, Q_WORKERS=2, SYNC_SENDER_AUTOSTART="0", LOG_LEVEL="INFO"), tmp_path)
    try:
        cluster = run.worker()
        wait_for_children(cluster.pid, 1)
        sentinel = children(cluster.pid)[0]
        processes = wait_for_children(sentinel, 4)  # two workers, the monitor, the pusher
        assert cluster_takes_tasks(run)

        # Killed while idle: a worker waiting for a task holds the task queue's lock (and the monitor the
        # result queue's); without a restart on new queues, the cluster's other processes wait on it for good.
        for pid in processes:
            os.kill(pid, signal.SIGKILL)
        # The next task once the cluster has its processes again: a task Redis hands to a pusher
        # in the instant it is killed is gone with it (django-q2's Redis broker has no acknowledgement).
        wait_for_children(sentinel, 4, replacing=tuple(processes))

        assert ran(async_task("math.floor", 3.5), timeout=30), run.log_tail()
        assert ran(async_task("math.floor", 4.5), timeout=30), run.log_tail()
        assert cluster.poll() is None  # the same qcluster, still running
    finally:
        run.stop_all()
