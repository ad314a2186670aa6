"""A django-q2 cluster keeps working after one of its processes is killed (SIGKILL, the OOM killer).

A cluster's processes share two multiprocessing queues, and each queue has
a lock that a reader holds while it waits: an idle worker waits for a task
holding the task queue's read lock, the monitor waits for a result holding
the result queue's. A process killed there never gives the lock back, and
django-q2 replaces only the dead process, so every other process of the
cluster waits on that lock for good: tasks pile up in the broker, nothing
runs, and the cluster cannot even stop (it waits for workers that cannot
read their stop pill).

So when a process of the cluster is killed by a signal (not by django-q2's
own timeout or recycling, which it handles, nor ended by an exception, which
lets go of its locks), the sentinel ends every process of the cluster and
starts them again on new queues, as a fresh `qcluster` would.
A task that a live worker was running is cut short; for the sender that is
a lease that lapses and a batch that is sent again.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

# django-q2's worker timer: 0 is "timed out" (it terminates the worker itself), -2 "recycled".
_TIMED_OUT, _RECYCLED = 0, -2
_GRACE_SECONDS = 5


def install() -> None:
    from django_q.cluster import Sentinel

    if getattr(Sentinel.reincarnate, "restarts_on_sudden_death", False):
        return
    replace_one = Sentinel.reincarnate

    def reincarnate(self, process) -> None:
        # The guard loop goes on over the pool it started with: the processes a
        # restart ended come here too, and are already replaced.
        if any(process is ended for ended in getattr(self, "_ended_by_restart", ())):
            return
        if not _died_suddenly(self, process):
            replace_one(self, process)
            return
        logger.critical(
            "process %s of the cluster was killed; restarting every process of the cluster on new queues",
            process.name,
        )
        _restart_cluster(self)

    reincarnate.restarts_on_sudden_death = True
    Sentinel.reincarnate = reincarnate


def _died_suddenly(sentinel, process) -> bool:
    """Killed by a signal: a process that ended on an exception let go of its locks as it unwound."""
    if process.is_alive() or process.exitcode is None or process.exitcode >= 0:
        return False
    if process is sentinel.monitor or process is sentinel.pusher:
        return True
    return int(process.timer.value) not in (_TIMED_OUT, _RECYCLED)


def _restart_cluster(sentinel) -> None:
    from django_q.conf import Conf
    from django_q.queues import Queue

    processes = [p for p in (*sentinel.pool, sentinel.monitor, sentinel.pusher) if p is not None]
    sentinel._ended_by_restart = processes
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(_GRACE_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(_GRACE_SECONDS)
    sentinel.task_queue = Queue(maxsize=Conf.QUEUE_LIMIT) if Conf.QUEUE_LIMIT else Queue()
    sentinel.result_queue = Queue()
    sentinel.spawn_cluster()  # a new pool, monitor and pusher on the new queues
    sentinel.reincarnations += 1
