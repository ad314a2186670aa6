"""Canvases and their steps in the admin, with Launch and Stop.

Scoped like integrations.admin: a marketer sees their workspaces' rows only
and another workspace's canvas, step or audience answers 404. Every write
calls audiences.services. CanvasAdmin.get_urls() adds its pages:

    canvas/overview/                          which canvases need attention, each step's figures
    canvas/<id>/launch/                       POST: launch
    canvas/<id>/stop/                         Stop asks for confirmation; POST confirm=yes: stop
    canvas/step/<id>/                         the Audience Sync step editor
    canvas/step/<id>/pinterest-audiences/     JSON: search the ad account's Pinterest audiences
    canvas/step/<id>/analytics/               the seven numbers, chart, send log, errored users
    canvas/step/<id>/retry/                   POST: retry errored users (of one cause, or all)
    canvas/step/<id>/move/                    POST direction=up|down: reorder a draft's steps
    canvas/step/<id>/refresh-size/            POST: read the step's audience on Pinterest now
    canvas/step/<id>/actalike/                POST: create an Actalike audience
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audiences import services
from audiences.admin.connection import connection_problem, page_problems
from audiences.admin.overview import OverviewPages
from audiences.admin.step_inline import StepInline
from audiences.admin.step_pages import StepPages
from audiences.admin.uploads import UploadPages
from audiences.models import Canvas, Step
from audiences.services import imports
from audiences.services.overview import canvases_overview
from audiences.services.step_order import step_move
from integrations import roles
from integrations.admin import WorkspaceScopedAdmin, adopt, user_workspaces
from integrations.roles import Action


@admin.register(Canvas)
class CanvasAdmin(OverviewPages, StepPages, UploadPages, WorkspaceScopedAdmin):
    add_action = change_action = delete_action = Action.CANVAS_EDIT
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
        self.require(request, Action.CANVAS_EDIT, obj)
        if change:
            services.canvas_update(canvas=obj, name=obj.name)
        else:
            adopt(obj, services.canvas_create(workspace=obj.workspace, name=obj.name))

    def save_formset(self, request, form, formset, change):
        canvas = form.instance
        self.require(request, Action.CANVAS_EDIT, canvas)
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
        self.require(request, Action.CANVAS_EDIT, obj)
        services.canvas_delete(canvas=obj)

    def delete_queryset(self, request, queryset):
        for canvas in queryset:
            self.require(request, Action.CANVAS_EDIT, canvas)  # before any is deleted
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

    def has_run_permission(self, request):
        return request.user.is_superuser or self.member_may(request, Action.CANVAS_RUN)

    @admin.action(description="Launch the selected canvases", permissions=["run"])
    def launch_selected(self, request, queryset):
        for canvas in queryset:
            self.require(request, Action.CANVAS_RUN, canvas)  # before any is launched
        for canvas in queryset:
            if canvas.status != Canvas.Status.ACTIVE:
                self._launch(request, canvas)

    @admin.action(description="Stop the selected canvases", permissions=["run"])
    def stop_selected(self, request, queryset):
        for canvas in queryset:
            self.require(request, Action.CANVAS_RUN, canvas)  # before any is stopped
        for canvas in queryset.filter(status=Canvas.Status.ACTIVE):
            self._stop(request, canvas)

    # Custom pages.

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("overview/", wrap(self.overview_view), name="audiences_canvas_overview"),
            path("overview/alerts/", wrap(self.alerts_mine_view), name="audiences_alerts_mine"),
            path("<int:canvas_id>/launch/", wrap(self.launch_view), name="audiences_canvas_launch"),
            path("<int:canvas_id>/stop/", wrap(self.stop_view), name="audiences_canvas_stop"),
            path("<int:canvas_id>/upload/", wrap(self.canvas_upload_view), name="audiences_canvas_upload"),
            path("step/<int:step_id>/", wrap(self.step_edit_view), name="audiences_step_edit"),
            path("step/<int:step_id>/pinterest-audiences/", wrap(self.audience_search_view),
                 name="audiences_step_audience_search"),
            path("step/<int:step_id>/analytics/", wrap(self.step_analytics_view), name="audiences_step_analytics"),
            path("step/<int:step_id>/retry/", wrap(self.step_retry_view), name="audiences_step_retry"),
            path("step/<int:step_id>/move/", wrap(self.step_move_view), name="audiences_step_move"),
            path("step/<int:step_id>/refresh-size/", wrap(self.step_refresh_size_view),
                 name="audiences_step_refresh_size"),
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
            # What the page offers: a viewer sees no Launch, Stop or upload.
            "may": roles.rights(request.user, canvas.workspace_id),
            # Its health and figures, as on the overview (the connection's own banner says the rest).
            "health": next(iter(canvases_overview([canvas.workspace_id], canvas_ids=[canvas.pk])), None),
            "upload_history": imports.imports_of_canvas(canvas),  # viewers too: who uploaded what, with what result
        }
        return super().change_view(request, object_id, form_url, extra)

    def step_move_view(self, request, step_id: int):
        step = self._step(request, step_id)
        self.require(request, Action.CANVAS_EDIT, step.canvas)
        if request.method == "POST":
            try:
                step_move(step=step, direction=request.POST.get("direction", ""))
            except services.ServiceError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"“{step}” is now step {step.position + 1} of the canvas.")
        return HttpResponseRedirect(self._canvas_url(step.canvas) + "#steps-group")

    def launch_view(self, request, canvas_id: int):
        canvas = self._canvas(request, canvas_id)
        self.require(request, Action.CANVAS_RUN, canvas)
        if request.method != "POST":
            return HttpResponseRedirect(self._canvas_url(canvas))
        if canvas.status == Canvas.Status.ACTIVE:
            messages.info(request, f"“{canvas}” is already live.")
        else:
            self._launch(request, canvas)
        return HttpResponseRedirect(self._canvas_url(canvas))

    def stop_view(self, request, canvas_id: int):
        """Stop asks first: a page that says what stopping does, with its own button (a double click on
        Launch must never stop a live canvas)."""
        canvas = self._canvas(request, canvas_id)
        self.require(request, Action.CANVAS_RUN, canvas)
        if canvas.status != Canvas.Status.ACTIVE:
            return HttpResponseRedirect(self._canvas_url(canvas))
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            self._stop(request, canvas)
            return HttpResponseRedirect(self._canvas_url(canvas))
        return TemplateResponse(request, "audiences/canvas_stop.html", self._context(
            request, title=f"Stop “{canvas}”?", canvas=canvas, canvas_url=self._canvas_url(canvas),
            stop_url=reverse("admin:audiences_canvas_stop", args=[canvas.pk]),
        ))

    # The Audience Sync step editor.
