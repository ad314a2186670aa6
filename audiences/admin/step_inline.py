"""The steps of a canvas as its page lists them: kind, name, delay, configuration, links, and Move up / down.

Editable by members who may edit canvases: every way while the canvas is
not active; while it is live, names and delays only (no step added, deleted
or moved). Writes go through CanvasAdmin.save_formset (audiences.services).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from audiences.models import Canvas, Step
from integrations import roles
from integrations.admin import workspace_ids
from integrations.roles import Action


def duration_words(seconds: int) -> str:
    """3600 -> "1 hour", 90 -> "1 min 30 s": a delay as a marketer reads it."""
    parts = []
    for size, one, many in ((86400, "day", "days"), (3600, "hour", "hours"), (60, "min", "min"), (1, "s", "s")):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {one if count == 1 else many}")
    return " ".join(parts) or "0 s"


class StepInlineForm(forms.ModelForm):
    class Meta:
        model = Step
        fields = ["kind", "name", "delay_seconds"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "kind" in self.fields:
            # A step keeps its kind; delete it and add another instead.
            self.fields["kind"].disabled = True
        if "delay_seconds" not in self.fields:  # a live canvas's read-only steps
            return
        self.fields["delay_seconds"].help_text = "Delay steps only."
        self.fields["delay_seconds"].label = "Wait (seconds)"
        if self.instance.pk and self.instance.kind == Step.Kind.AUDIENCE_SYNC:
            # A sync step has no delay: an empty cell, not a "0" to wonder about.
            self.fields["delay_seconds"].widget = forms.NumberInput(attrs={"hidden": "hidden"})
            self.fields["delay_seconds"].help_text = ""

    def clean(self):
        data = super().clean()
        if data.get("kind") == Step.Kind.DELAY and not (data.get("delay_seconds") or 0) > 0:
            self.add_error("delay_seconds", "A delay must be at least one second.")
        return data


class StepInline(admin.TabularInline):
    model = Step
    form = StepInlineForm
    extra = 0
    fields = ["kind", "name", "delay_seconds", "configuration", "pages"]
    readonly_fields = ["configuration", "pages"]
    ordering = ["position", "id"]
    verbose_name = "step"
    verbose_name_plural = "Steps (in order)"

    def _may_edit_canvas(self, request, obj) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return any(roles.can(request.user, pk, Action.CANVAS_EDIT) for pk in workspace_ids(request))
        return roles.can(request.user, obj.workspace_id, Action.CANVAS_EDIT)

    def _editable(self, request, obj) -> bool:
        """Steps added, deleted, or changed in every way: not while the canvas is live."""
        if obj is not None and obj.status == Canvas.Status.ACTIVE:
            return False
        return self._may_edit_canvas(request, obj)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or bool(workspace_ids(request))

    def get_fields(self, request, obj=None):
        # Inline instances are made per request: what the Configuration column may link to.
        self._may_edit = request.user.is_superuser or (
            obj is not None and roles.can(request.user, obj.workspace_id, Action.CANVAS_EDIT))
        if not self._may_edit_canvas(request, obj):
            # Read-only: a delay shows in Configuration ("Wait 30 s"); a sync step has none to show.
            return [f for f in self.fields if f != "delay_seconds"]
        return self.fields

    def has_add_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_change_permission(self, request, obj=None):
        # A live canvas's steps keep their place, but their names and delays change at once
        # (services.step_update: a new delay is for users who reach it from then on).
        return self._may_edit_canvas(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(request, obj)

    @admin.display(description="Configuration")
    def configuration(self, step):
        if not step.pk:
            return "Save, then configure."
        if step.kind == Step.Kind.DELAY:
            return f"Wait {duration_words(step.delay_seconds)}"
        fields = ", ".join(label for label, on in (
            ("email", step.match_email), ("iOS IDFA", step.match_idfa), ("Android ad id", step.match_android_aid)
        ) if on) or "no match field"
        return format_html(
            "{} · {}<br>{} · {}",
            step.ad_account or "no ad account",
            step.audience or "no audience",
            step.get_action_display(),
            fields,
        )

    @admin.display(description="")
    def pages(self, step):
        if not step.pk:
            return ""
        return format_html("{}{}", self._links(step), self._move_buttons(step))

    def _move_buttons(self, step):
        """Move up / down: buttons of the canvas form that post to the move page (a draft's steps only)."""
        if not getattr(self, "_may_edit", False) or step.canvas.status != Canvas.Status.DRAFT:
            return ""
        url = reverse("admin:audiences_step_move", args=[step.pk])
        return format_html(
            '<span class="step-move"><button type="submit" formaction="{}" formnovalidate name="direction" value="up" '
            'class="move-up" title="Move this step one place earlier (save other changes first)">↑ Up</button> '
            '<button type="submit" formaction="{}" formnovalidate name="direction" value="down" class="move-down" '
            'title="Move this step one place later (save other changes first)">↓ Down</button></span>', url, url)

    def _links(self, step):
        analytics = reverse("admin:audiences_step_analytics", args=[step.pk])
        if step.kind != Step.Kind.AUDIENCE_SYNC:
            return format_html('<a href="{}">Analytics</a>', analytics)
        if not getattr(self, "_may_edit", False):
            return format_html('<a href="{}">Analytics</a>', analytics)
        edit = reverse("admin:audiences_step_edit", args=[step.pk])
        return format_html('<a href="{}" class="step-edit">Edit step</a> · <a href="{}">Analytics</a>', edit, analytics)
