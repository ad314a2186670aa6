"""Wall-clock time through one helper.

Time-travel tests (time-machine) move time.time() but not time.monotonic(),
so timing that tests travel through reads the wall clock here.
"""

import time


def now() -> float:
    return time.time()


def sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
