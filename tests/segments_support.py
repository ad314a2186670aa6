"""What the segment tests share: a segment on a launched step, and its snapshot sent whole."""

from __future__ import annotations

import hashlib

from audiences import services
from audiences.services import segments


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def members(ids) -> list[dict]:
    return [{"external_id": f"user-{i}", "email": f"User{i}@Example.COM"} for i in ids]


def emails(ids) -> set[str]:
    return {sha256(f"user{i}@example.com") for i in ids}


def segment_of(canvas, **options):
    return segments.segment_create(step=canvas.steps.get(), name="Loyal buyers", **options)


def snapshot_send(segment, ids, *, page: int = 5_000, confirmed: bool = False):
    """Open a snapshot, send `ids` as members in pages and commit it."""
    snapshot = segments.snapshot_open(segment, source="api", actor="test")
    ids = list(ids)
    for start in range(0, len(ids), page):
        segments.snapshot_add(snapshot, members(ids[start:start + page]))
    return segments.snapshot_commit(snapshot, actor="test", confirmed=confirmed)


def patch_requests(sandbox) -> list[dict]:
    return [r for r in sandbox.state.requests_log()
            if "/customer_lists" in r["path"] and r["method"] in ("POST", "PATCH") and r["status"] == 200]


def list_records(sandbox) -> set[str]:
    return set().union(set(), *(sandbox.state.customer_list_records(item["id"])
                                for item in sandbox.state.customer_lists()))


__all__ = ["segments", "services"]
