"""The order of a canvas's steps: moved one place at a time while the canvas is a draft.

Steps are created at the end of their canvas (audiences.services.steps);
this module only renumbers positions. Only a draft may be reordered: users
of a live or stopped canvas may be waiting in a delay step, and moving the
steps around them would change what they already went through.
"""

from __future__ import annotations

from django.db import transaction

from audiences.models import Canvas, Step
from audiences.services.audit import audit_record
from audiences.services.errors import NotAllowed, ServiceError


def step_move(*, step: Step, direction: str) -> Step:
    """Move the step one place up (earlier) or down (later) in its canvas; positions become 0..n-1."""
    if direction not in ("up", "down"):
        raise ServiceError("A step moves up or down.")
    with transaction.atomic():
        canvas = Canvas.objects.select_for_update().get(pk=step.canvas_id)
        if canvas.status != Canvas.Status.DRAFT:
            raise NotAllowed("Steps can be reordered while the canvas is a draft: users of a canvas that has run "
                             "may be waiting in its steps.")
        steps = list(canvas.steps.order_by("position", "id"))
        index = next(i for i, s in enumerate(steps) if s.pk == step.pk)
        other = index - 1 if direction == "up" else index + 1
        if 0 <= other < len(steps):
            steps[index], steps[other] = steps[other], steps[index]
        for position, each in enumerate(steps):
            if each.position != position:
                Step.objects.filter(pk=each.pk).update(position=position)
                each.position = position
        audit_record(workspace=canvas.workspace_id, action="step.move", target=f"{canvas} / {step}",
                     details={"step": step.pk, "direction": direction, "position": steps.index(step) + 1})
    step.refresh_from_db()
    return step
