"""An import job of the "segment" kind: a file that is a segment's whole membership, as one snapshot.

The job opens a snapshot (audiences.services.segments), adds the file's
batches as pages under the keys `import:<job>:<first line>` (a page sent
again after a worker died adds nothing twice), then commits it: newcomers
are added, leavers removed. A commit that would remove more than the
segment's share waits for confirmation on the segment's page, as any
snapshot does; the job is done either way and says which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from audiences.models import ImportJob, Segment, Snapshot
from audiences.services.segments import snapshot_add_page, snapshot_commit, snapshot_open


def enter(job: ImportJob, save: Callable[..., None], over: Callable[[], None],
          rows: Iterator[tuple[int, int, list[dict]]]) -> str:
    """Send the file's batches as pages of the job's snapshot, then commit it; returns the job's summary."""
    segment = Segment.objects.get(pk=job.segment_id, workspace_id=job.workspace_id)
    snapshot_id = job.result.get("snapshot")
    if snapshot_id is None:
        snapshot = snapshot_open(segment, source=Snapshot.Source.FILE, actor=job.actor)
        save(result={**job.result, "snapshot": snapshot.pk})
    else:
        snapshot = Snapshot.objects.get(pk=snapshot_id, segment=segment)
    for first, last, members in rows:
        snapshot_add_page(snapshot, members, key=f"import:{job.pk}:{first}")
        save(checkpoint=last, rows_entered=job.rows_entered + len(members))
        over()
    snapshot = snapshot_commit(snapshot, actor=job.actor, confirmed=bool(job.result.get("confirmed")))
    figures = {"snapshot": snapshot.pk, "snapshot_state": snapshot.state, "added": snapshot.added,
               "removed": snapshot.removed}
    if snapshot.state == Snapshot.State.WAITING:
        text = (f"Snapshot #{snapshot.pk} of {job.rows_entered:,} members waits for confirmation on the segment's "
                f"page: {snapshot.note}")
    else:
        text = (f"Snapshot #{snapshot.pk} committed: {job.rows_entered:,} members, {snapshot.added:,} added and "
                f"{snapshot.removed:,} removed.")
    save(result={**job.result, **figures, "summary": text})
    return text
