"""The marketer's overview: every canvas with its health and its steps' figures, what needs attention first.

Read-only, and read from counts only (StepCount, StepHour, the ledger's
member count, the audience row's last Pinterest reading): a fixed handful of
queries for a workspace, whatever the number of records (DESIGN.md rule 11).
The last request to Pinterest per audience is one index probe each
(sendlog_audience_recent), inside one query.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from audiences.models import (
    Audience, AudienceMemberCount, Canvas, DelayRecord, SendLog, Step, StepCount, StepHour, SyncRecord,
)
from audiences.services.sizes import MATCH_MINIMUM
from integrations.models import PinterestConnection, Workspace

# Health marks, worst first: the overview sorts on them.
PROBLEM, WARNING, OK, IDLE = "problem", "warning", "ok", "idle"
RANK = {PROBLEM: 0, WARNING: 1, OK: 2, IDLE: 3}
QUIET_AFTER = timedelta(days=1)


@dataclass
class StepFigures:
    step: Step
    total: dict[str, int] = field(default_factory=dict)  # entered, synced, not_synced, pending, errored
    today: dict[str, int] = field(default_factory=dict)  # entered, synced, errored (since midnight)
    last_request_at: datetime | None = None
    last_request_outcome: str = ""
    audience_size: int | None = None
    audience_measured_at: datetime | None = None
    audience_status: str = ""
    members: int = 0
    synced_last_day: int = 0


@dataclass
class CanvasHealth:
    canvas: Canvas
    mark: str = OK
    reasons: list[str] = field(default_factory=list)
    steps: list[StepFigures] = field(default_factory=list)
    errored: int = 0

    @property
    def needs_attention(self) -> bool:
        return self.mark in (PROBLEM, WARNING)

    def flag(self, mark: str, reason: str) -> None:
        if RANK[mark] < RANK[self.mark]:
            self.mark = mark
        self.reasons.append(reason)


def _connection_reason(workspace: Workspace, connection: PinterestConnection | None) -> str:
    if connection is None:
        return f"Pinterest is not connected for {workspace}: users wait as pending."
    if connection.status == PinterestConnection.Status.VALID:
        return ""
    if connection.status == PinterestConnection.Status.DISCONNECTED:
        return f"Pinterest is disconnected for {workspace}: users wait as pending."
    return f"Pinterest needs reconnecting for {workspace}: users wait as pending."


def canvases_overview(workspaces, *, canvas_ids=None, now: datetime | None = None) -> list[CanvasHealth]:
    """Every canvas of these workspaces (or only `canvas_ids` of them) with its health, those needing attention
    first."""
    now = now or timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    since = min(midnight, now - QUIET_AFTER)
    canvases = (Canvas.objects.filter(workspace__in=workspaces).select_related("workspace")
                .only("id", "name", "status", "launched_at", "workspace__id", "workspace__name", "workspace__slug")
                .order_by("name", "pk"))
    if canvas_ids is not None:
        canvases = canvases.filter(pk__in=canvas_ids)
    # The related rows are chosen by joins on the same filter, not by lists of ids: a list of hundreds of ids
    # costs more to prepare than the join costs to run.
    scope = {"canvas__workspace__in": workspaces, **({"canvas__in": canvas_ids} if canvas_ids is not None else {})}
    step_scope = {f"step__{key}": value for key, value in scope.items()}
    canvases = list(canvases)
    workspace_ids = {c.workspace_id for c in canvases}
    connections = {c.workspace_id: c for c in PinterestConnection.objects.filter(workspace_id__in=workspace_ids)}
    last_request = SendLog.objects.filter(audience=OuterRef("audience_id")).exclude(http_status=None).order_by("-id")
    steps = list(
        Step.objects.filter(**scope)
        .select_related("audience", "ad_account")
        # Only what the overview shows: hundreds of wide rows would cost more to build than to read.
        .only("id", "canvas_id", "position", "kind", "name", "action", "audience__id", "audience__name",
              "audience__status", "audience__pinterest_size", "audience__pinterest_status", "audience__checked_at",
              "audience__source", "ad_account__id", "ad_account__name", "ad_account__pinterest_id",
              "ad_account__available")
        .annotate(last_request_at=Subquery(last_request.values("started_at")[:1]),
                  last_request_outcome=Subquery(last_request.values("outcome")[:1]))
        .order_by("canvas_id", "position", "id")
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for step_id, state, n in StepCount.objects.filter(**step_scope).values_list("step_id", "state", "n"):
        counts[step_id][state] = n
    hours: dict[int, list[tuple[datetime, int, int, int]]] = defaultdict(list)
    for step_id, hour, entered, synced, errored in StepHour.objects.filter(
            **step_scope, hour__gte=since).values_list("step_id", "hour", "entered", "synced", "errored"):
        hours[step_id].append((hour, entered, synced, errored))
    members = dict(AudienceMemberCount.objects.filter(audience__steps__in=Step.objects.filter(**scope).values("pk"))
                   .values_list("audience_id", "users").distinct())

    by_canvas: dict[int, list[Step]] = defaultdict(list)
    for step in steps:
        by_canvas[step.canvas_id].append(step)
    result = []
    for canvas in canvases:
        health = CanvasHealth(canvas=canvas)
        if canvas.status != Canvas.Status.ACTIVE:
            health.mark = IDLE
        canvas_steps = by_canvas[canvas.pk]
        for step in canvas_steps:
            health.steps.append(_figures(step, counts[step.pk], hours[step.pk], midnight, members))
        _judge(health, connections.get(canvas.workspace_id), now)
        result.append(health)
    result.sort(key=lambda h: (RANK[h.mark], -h.errored, h.canvas.name.lower(), h.canvas.pk))
    return result


def _figures(step: Step, counts: dict[str, int], hours, midnight: datetime, members: dict[int, int]) -> StepFigures:
    figures = StepFigures(step=step)
    if step.kind == Step.Kind.DELAY:
        waiting = counts.get(DelayRecord.State.WAITING, 0)
        figures.total = {"entered": waiting + counts.get(DelayRecord.State.PROCEEDED, 0)
                         + counts.get(DelayRecord.State.EXITED, 0), "waiting": waiting}
    else:
        total = {
            "synced": counts.get(SyncRecord.State.SYNCED, 0),
            "not_synced": counts.get(SyncRecord.State.NOT_SYNCED, 0) + counts.get(SyncRecord.State.SUPPRESSED, 0),
            "pending": counts.get(SyncRecord.State.PENDING, 0),
            "errored": counts.get(SyncRecord.State.ERRORED, 0),
        }
        figures.total = {"entered": sum(total.values()), **total}
    today = {"entered": 0, "synced": 0, "errored": 0}
    for hour, entered, synced, errored in hours:
        if hour >= midnight:
            today["entered"] += entered
            today["synced"] += synced
            today["errored"] += errored
    figures.today = today
    figures.synced_last_day = sum(synced for _, _, synced, _ in hours)
    figures.last_request_at = getattr(step, "last_request_at", None)
    figures.last_request_outcome = getattr(step, "last_request_outcome", None) or ""
    audience = step.audience
    if audience is not None:
        figures.audience_size = audience.pinterest_size
        figures.audience_measured_at = audience.checked_at
        figures.audience_status = audience.pinterest_status
        figures.members = members.get(audience.pk, 0)
    return figures


def _judge(health: CanvasHealth, connection: PinterestConnection | None, now: datetime) -> None:
    """Set the canvas's mark and reasons, in the order a marketer should act on them."""
    canvas = health.canvas
    syncs = [f for f in health.steps if f.step.kind == Step.Kind.AUDIENCE_SYNC]
    live = canvas.status == Canvas.Status.ACTIVE
    if syncs and (live or any(f.total.get("pending") for f in syncs)):
        reason = _connection_reason(canvas.workspace, connection)
        if reason:
            health.flag(PROBLEM, reason)
    for f in syncs:
        account = f.step.ad_account
        if account is not None and not account.available:
            health.flag(PROBLEM, f"Ad account {account} is no longer available to step “{f.step}”.")
    for f in syncs:
        errored = f.total.get("errored", 0)
        health.errored += errored
        if errored:
            health.flag(PROBLEM, f"{errored:,} errored user{'s' if errored != 1 else ''} in step “{f.step}”.")
    for f in syncs:
        audience = f.step.audience
        if audience is None or f.step.action != Step.Action.ADD:
            continue
        if audience.status != Audience.Status.READY and 0 < f.members < MATCH_MINIMUM:
            health.flag(WARNING, f"Audience “{audience.name}” is too small: {f.members:,} users sent; Pinterest "
                                 f"cannot target fewer than about {MATCH_MINIMUM} matched users: it needs more users.")
    if live and syncs and canvas.launched_at and canvas.launched_at < now - QUIET_AFTER:
        if not any(f.synced_last_day for f in syncs):
            health.flag(WARNING, "Nothing sent to Pinterest for a day.")
