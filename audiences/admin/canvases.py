"""Canvases and their steps in the admin, with Launch and Stop.

Scoped like integrations.admin: a marketer sees their workspaces' rows only
and another workspace's canvas, step or audience answers 404. Every write
calls audiences.services. CanvasAdmin.get_urls() adds its pages:

    canvas/<id>/launch/                       POST: launch
    canvas/<id>/stop/                         POST: stop
    canvas/step/<id>/                         the Audience Sync step editor
    canvas/step/<id>/pinterest-audiences/     JSON: search the ad account's Pinterest audiences
    canvas/step/<id>/analytics/               the seven numbers, chart, send log, errored users
    canvas/step/<id>/retry/                   POST: retry errored users
    canvas/step/<id>/actalike/                POST: create an Actalike audience
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from audiences import services
from audiences.admin.connection import connection_problem, page_problems
from audiences.admin.step_pages import StepPages
from audiences.admin.uploads import UploadPages
from audiences.models import Canvas, Step
from integrations.admin import WorkspaceScopedAdmin, user_workspaces, workspace_ids




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
        self.fields["delay_seconds"].label = "Delay (seconds)"
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

    def _editable(self, request, obj) -> bool:
        if obj is not None and obj.status == Canvas.Status.ACTIVE:
            return False
        return request.user.is_superuser or bool(workspace_ids(request))

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or bool(workspace_ids(request))

    def get_fields(self, request, obj=None):
        if not self._editable(request, obj):
            # Read-only: a delay shows in Configuration ("Wait 30 s"); a sync step has none to show.
            return [f for f in self.fields if f != "delay_seconds"]
        return self.fields

    def has_add_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(request, obj)

    @admin.display(description="Configuration")
    def configuration(self, step):
        if not step.pk:
            return "Save, then configure."
        if step.kind == Step.Kind.DELAY:
            return f"Wait {step.delay_seconds} s"
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
        analytics = reverse("admin:audiences_step_analytics", args=[step.pk])
        if step.kind != Step.Kind.AUDIENCE_SYNC:
            return format_html('<a href="{}">Analytics</a>', analytics)
        edit = reverse("admin:audiences_step_edit", args=[step.pk])
        return format_html('<a href="{}" class="step-edit">Edit step</a> · <a href="{}">Analytics</a>', edit, analytics)


@admin.register(Canvas)
class CanvasAdmin(StepPages, UploadPages, WorkspaceScopedAdmin):
    member_can_add = True
    member_can_change = True
    member_can_delete = True
    list_display = ["name", "workspace", "status_badge", "step_count", "launched_at"]
    list_display_links = ["name"]
    list_filter = ["status"]
    search_fields = ["name"]
    inlines = [StepInline]
    actions = ["launch_selected", "stop_selected"]
    change_form_template = "admin/audiences/canvas/change_form.html"
    change_list_template = "admin/audiences/canvas/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("workspace")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["workspace", "name"]
        return ["workspace_name", "name", "status", "launched_at", "stopped_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["workspace_name", "status", "launched_at", "stopped_at"]

    @admin.display(description="Workspace")
    def workspace_name(self, canvas):
        # Plain text: the workspace's own admin page is for superusers.
        return str(canvas.workspace)

    def get_changeform_initial_data(self, request):
        workspaces = list(user_workspaces(request)[:2])
        return {"workspace": workspaces[0].pk} if len(workspaces) == 1 else {}

    def has_delete_permission(self, request, obj=None):
        if obj is not None and services.canvas_delete_problem(obj):
            return False  # canvas_delete would refuse: offer no Delete button that would fail
        return super().has_delete_permission(request, obj)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, canvas):
        return format_html('<span class="canvas-status {}">{}</span>', canvas.status, canvas.get_status_display())

    @admin.display(description="Steps")
    def step_count(self, canvas):
        return canvas.steps.count()

    # Writes go through the services.

    def save_model(self, request, obj, form, change):
        from integrations.admin import adopt

        if change:
            services.canvas_update(canvas=obj, name=obj.name)
        else:
            adopt(obj, services.canvas_create(workspace=obj.workspace, name=obj.name))

    def save_formset(self, request, form, formset, change):
        canvas = form.instance
        # What the admin's history message reads from a saved formset.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            for inline_form in formset.deleted_forms:
                if inline_form.instance.pk:
                    services.step_delete(step=Step.objects.get(pk=inline_form.instance.pk))
                    formset.deleted_objects.append(inline_form.instance)
            for inline_form in formset.forms:
                if inline_form in formset.deleted_forms or not inline_form.has_changed():
                    continue
                data = inline_form.cleaned_data
                if not inline_form.instance.pk:
                    if data["kind"] == Step.Kind.DELAY:
                        step = services.step_create_delay(canvas=canvas, seconds=data["delay_seconds"], name=data["name"])
                    else:
                        step = services.step_create_audience_sync(canvas=canvas, name=data["name"])
                    formset.new_objects.append(step)
                else:
                    step = Step.objects.get(pk=inline_form.instance.pk)
                    changes = {"name": data["name"]}
                    if step.kind == Step.Kind.DELAY:
                        changes["delay_seconds"] = data["delay_seconds"]
                    services.step_update(step=step, **changes)
                    formset.changed_objects.append((step, inline_form.changed_data))
        except services.ServiceError as exc:
            messages.error(request, str(exc))

    def delete_model(self, request, obj):
        services.canvas_delete(canvas=obj)

    def delete_queryset(self, request, queryset):
        for canvas in queryset:
            try:
                services.canvas_delete(canvas=canvas)
            except services.ServiceError as exc:
                messages.error(request, f"{canvas}: {exc}")

    # Launching and stopping.

    def _launch(self, request, canvas: Canvas) -> bool:
        try:
            services.canvas_launch(canvas=canvas)
        except services.LaunchRefused as refused:
            for problem in refused.problems:
                messages.error(request, f"“{canvas}” was not launched: {problem}")
            return False
        messages.success(request, f"“{canvas}” is live: users who enter it are synced to Pinterest.")
        return True

    def _stop(self, request, canvas: Canvas) -> None:
        services.canvas_stop(canvas=canvas)
        messages.success(request, f"“{canvas}” is stopped: it takes no new users; users already in it are still sent.")

    @admin.action(description="Launch the selected canvases")
    def launch_selected(self, request, queryset):
        for canvas in queryset:
            if canvas.status != Canvas.Status.ACTIVE:
                self._launch(request, canvas)

    @admin.action(description="Stop the selected canvases")
    def stop_selected(self, request, queryset):
        for canvas in queryset.filter(status=Canvas.Status.ACTIVE):
            self._stop(request, canvas)

    # Custom pages.

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:canvas_id>/launch/", wrap(self.launch_view), name="audiences_canvas_launch"),
            path("<int:canvas_id>/stop/", wrap(self.stop_view), name="audiences_canvas_stop"),
            path("<int:canvas_id>/upload/", wrap(self.canvas_upload_view), name="audiences_canvas_upload"),
            path("step/<int:step_id>/", wrap(self.step_edit_view), name="audiences_step_edit"),
            path("step/<int:step_id>/pinterest-audiences/", wrap(self.audience_search_view),
                 name="audiences_step_audience_search"),
            path("step/<int:step_id>/analytics/", wrap(self.step_analytics_view), name="audiences_step_analytics"),
            path("step/<int:step_id>/retry/", wrap(self.step_retry_view), name="audiences_step_retry"),
            path("step/<int:step_id>/actalike/", wrap(self.step_actalike_view), name="audiences_step_actalike"),
            *super().get_urls(),
        ]

    def _canvas(self, request, canvas_id: int) -> Canvas:
        return get_object_or_404(self.get_queryset(request), pk=canvas_id)

    def _step(self, request, step_id: int) -> Step:
        return get_object_or_404(
            Step.objects.select_related("canvas__workspace", "ad_account", "audience__ad_account"),
            pk=step_id,
            canvas__in=self.get_queryset(request),
        )

    def _canvas_url(self, canvas: Canvas) -> str:
        return reverse("admin:audiences_canvas_change", args=[canvas.pk])

    def _context(self, request, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, **extra}

    def changelist_view(self, request, extra_context=None):
        workspaces = user_workspaces(request)
        if request.user.is_superuser:
            workspaces = workspaces.filter(canvases__isnull=False).distinct()
        problems = [p for p in (connection_problem(w) for w in workspaces) if p]
        return super().changelist_view(request, {**(extra_context or {}), "connection_problems": problems})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        canvas = self.get_object(request, object_id)
        if canvas is None:  # another workspace's canvas, or a deleted one: the admin's own answer
            return super().change_view(request, object_id, form_url, extra_context)
        steps = canvas.steps.select_related("ad_account__connection__workspace")
        extra = {
            **(extra_context or {}),
            "canvas": canvas,
            "connection_problems": page_problems(canvas.workspace, steps),
            "launch_url": reverse("admin:audiences_canvas_launch", args=[canvas.pk]),
            "stop_url": reverse("admin:audiences_canvas_stop", args=[canvas.pk]),
            "upload_url": reverse("admin:audiences_canvas_upload", args=[canvas.pk]),
            "entries_url": request.build_absolute_uri(reverse("api:canvas-entries", args=[canvas.pk])),
        }
        return super().change_view(request, object_id, form_url, extra)

    def launch_view(self, request, canvas_id: int):
        canvas = self._canvas(request, canvas_id)
        if request.method != "POST":
            return HttpResponseRedirect(self._canvas_url(canvas))
        if canvas.status == Canvas.Status.ACTIVE:
            messages.info(request, f"“{canvas}” is already live.")
        else:
            self._launch(request, canvas)
        return HttpResponseRedirect(self._canvas_url(canvas))

    def stop_view(self, request, canvas_id: int):
        canvas = self._canvas(request, canvas_id)
        if request.method == "POST" and canvas.status == Canvas.Status.ACTIVE:
            self._stop(request, canvas)
        return HttpResponseRedirect(self._canvas_url(canvas))

    # The Audience Sync step editor.
