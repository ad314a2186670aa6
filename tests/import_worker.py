"""A task-queue worker running one import job, in a process of its own (tests measure it, or kill it).

    python tests/import_worker.py JOB_ID

Prints one JSON line at the end: the job's state and the process's peak
memory (KiB) before and after the job ran.
"""

import json
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

import django  # noqa: E402

django.setup()

from audiences.services import imports  # noqa: E402


def peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    before = peak_kb()
    job = imports.import_run(job_id=int(sys.argv[1]), seconds=0)
    print(json.dumps({"state": job and job.state, "peak_kb_before": before, "peak_kb_after": peak_kb()}))
