"""Canvases: the only writer of Canvas."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audiences import step_counts
from audiences.models import Canvas, SyncRecord
from audiences.services import steps
from audiences.services.audit import audit_record
from audiences.services.errors import LaunchRefused, NotAllowed, ServiceError
from integrations.models import PinterestConnection, Workspace


def canvas_create(*, workspace: Workspace, name: str) -> Canvas:
    if not name.strip():
        raise ServiceError("A canvas needs a name.")
    with transaction.atomic():
        canvas = Canvas.objects.create(workspace=workspace, name=name.strip())
        audit_record(workspace=workspace, action="canvas.create", target=canvas, details={"canvas": canvas.pk})
    return canvas


def canvas_update(*, canvas: Canvas, name: str) -> Canvas:
    """Rename a canvas (allowed in every state: the name is only a label)."""
    if not name.strip():
        raise ServiceError("A canvas needs a name.")
    canvas.name = name.strip()
    canvas.save(update_fields=["name"])
    return canvas


def canvas_delete_problem(canvas: Canvas) -> str | None:
    """Why the canvas cannot be deleted now, or None. Audiences and their members on Pinterest stay as they are."""
    if canvas.status == Canvas.Status.ACTIVE:
        return "Stop the canvas before deleting it."
    pending = step_counts.total(state=SyncRecord.State.PENDING, canvas_id=canvas.pk)
    if pending:
        return f"{pending} users of this canvas are still pending; delete it once they are sent."
    return None


def canvas_delete(*, canvas: Canvas) -> None:
    """Delete a canvas that is not active and has no user still waiting to be sent."""
    problem = canvas_delete_problem(canvas)
    if problem:
        raise NotAllowed(problem)
    with transaction.atomic():
        audit_record(workspace=canvas.workspace_id, action="canvas.delete", target=canvas,
                     details={"canvas": canvas.pk, "steps": canvas.steps.count()})
        canvas.delete()


def launch_problems(canvas: Canvas) -> list[str]:
    problems = []
    canvas_steps = list(canvas.steps.select_related("audience", "ad_account"))
    connection = PinterestConnection.objects.filter(workspace=canvas.workspace_id).first()
    if not canvas_steps:
        problems.append("The canvas has no steps.")
    if connection is None or not connection.is_usable:
        problems.append("The workspace has no valid Pinterest connection: connect Pinterest first.")
    for index, step in enumerate(canvas_steps, start=1):
        problems.extend(steps.step_launch_problems(step, label=f"Step {index} ({step})"))
    return problems


def canvas_launch(*, canvas: Canvas) -> Canvas:
    """Make the canvas accept users. Refused, with every problem named, when it cannot sync."""
    if canvas.status == Canvas.Status.ACTIVE:
        return canvas
    problems = launch_problems(canvas)
    if problems:
        raise LaunchRefused(problems)
    canvas.status = Canvas.Status.ACTIVE
    canvas.launched_at = timezone.now()
    with transaction.atomic():
        canvas.save(update_fields=["status", "launched_at"])
        audit_record(workspace=canvas.workspace_id, action="canvas.launch", target=canvas)
    return canvas


def canvas_stop(*, canvas: Canvas) -> Canvas:
    """Stop taking users. Users already entered are still sent."""
    if canvas.status != Canvas.Status.ACTIVE:
        raise NotAllowed("Only an active canvas can be stopped.")
    canvas.status = Canvas.Status.STOPPED
    canvas.stopped_at = timezone.now()
    with transaction.atomic():
        canvas.save(update_fields=["status", "stopped_at"])
        audit_record(workspace=canvas.workspace_id, action="canvas.stop", target=canvas)
    return canvas
