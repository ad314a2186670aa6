"""The marketer's admin: canvases and their steps, the step editor and the step analytics.

Scoped like integrations.admin: a marketer sees their workspaces' rows only
and another workspace's canvas, step or audience answers 404. Every write
calls audiences.services. The step pages are custom admin views added by
CanvasAdmin.get_urls():

    canvas/<id>/launch/                       POST: launch
    canvas/<id>/stop/                         POST: stop
    canvas/step/<id>/                         the Audience Sync step editor
    canvas/step/<id>/pinterest-audiences/     JSON: search the ad account's Pinterest audiences
    canvas/step/<id>/analytics/               the seven numbers, chart, send log, errored users
    canvas/step/<id>/retry/                   POST: retry errored users
    canvas/step/<id>/actalike/                POST: create an Actalike audience
"""

from __future__ import annotations

import math
import re

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audiences import metrics, services
from audiences.forms import ActalikeForm, AudienceSyncStepForm
from audiences.models import Audience, Canvas, SendLog, Step, SyncRecord
from audiences.selectors import pinterest_audiences_search
from integrations.admin import WorkspaceScopedAdmin, scoped_choices, user_workspaces, workspace_ids
from integrations.models import AdAccount, PinterestConnection, Workspace
from integrations.pinterest.client import PinterestError
from integrations.services import ConnectionUnusable

# What a call to Pinterest or a service may raise that the marketer should read.
SHOWN_ERRORS = (services.ServiceError, ConnectionUnusable, PinterestError)

# The audience search's query: a row id of at most 18 digits (under 2**63), and
# Pinterest's own opaque bookmark (visible ASCII, as the API takes it).
AD_ACCOUNT_PK = re.compile(r"[0-9]{1,18}")
SEARCH_BOOKMARK = re.compile(r"[!-~]{1,2000}")

NUMBERS = [
    ("entered", "Entered"),
    ("proceeded", "Proceeded to Next Step"),
    ("synced", "Users Synced"),
    ("not_synced", "Users Not Synced"),
    ("pending", "Users Pending"),
    ("errored", "Users Errored"),
    ("exited", "Exited Canvas"),
]


def connection_problem(workspace: Workspace) -> dict | None:
    """What the connection banner says when the workspace cannot sync (None when it can)."""
    connection = PinterestConnection.objects.filter(workspace=workspace).first()
    url = reverse("integrations:partner", args=[workspace.slug])
    if connection is None:
        return {"workspace": workspace, "status": "Not connected", "last_error": "", "url": url}
    if connection.status == PinterestConnection.Status.VALID:
        return None
    return {
        "workspace": workspace,
        "status": connection.get_status_display(),
        "last_error": connection.last_error,
        "url": url,
    }


# --- Canvases and their steps ---------------------------------------------------------------


class StepInlineForm(forms.ModelForm):
    class Meta:
        model = Step
        fields = ["kind", "name", "delay_seconds"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A step keeps its kind; delete it and add another instead.
            self.fields["kind"].disabled = True
        self.fields["delay_seconds"].help_text = "Delay steps only."

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
class CanvasAdmin(WorkspaceScopedAdmin):
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
        if obj is not None and (
            obj.status == Canvas.Status.ACTIVE
            or SyncRecord.objects.filter(step__canvas=obj, state=SyncRecord.State.PENDING).exists()
        ):
            # canvas_delete refuses these; offer no Delete button that would fail.
            return False
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
                        step = services.step_add_delay(canvas=canvas, seconds=data["delay_seconds"], name=data["name"])
                    else:
                        step = services.step_add_audience_sync(canvas=canvas, name=data["name"])
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
        problem = connection_problem(canvas.workspace)
        extra = {
            **(extra_context or {}),
            "canvas": canvas,
            "connection_problems": [problem] if problem else [],
            "launch_url": reverse("admin:audiences_canvas_launch", args=[canvas.pk]),
            "stop_url": reverse("admin:audiences_canvas_stop", args=[canvas.pk]),
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

    def step_edit_view(self, request, step_id: int):
        step = self._step(request, step_id)
        canvas = step.canvas
        if step.kind != Step.Kind.AUDIENCE_SYNC:
            return HttpResponseRedirect(self._canvas_url(canvas))
        locked = canvas.status == Canvas.Status.ACTIVE
        ad_accounts = scoped_choices("ad_account", request).filter(connection__workspace=canvas.workspace)
        initial = AudienceSyncStepForm.initial_for(step)
        if request.method == "POST":
            form = AudienceSyncStepForm(request.POST, initial=initial, ad_accounts=ad_accounts, locked=locked)
            if form.is_valid():
                try:
                    self._step_save(request, step, form, locked)
                except SHOWN_ERRORS as exc:
                    messages.error(request, str(exc))
                else:
                    return HttpResponseRedirect(request.path)
                step.refresh_from_db()
        else:
            form = AudienceSyncStepForm(initial=initial, ad_accounts=ad_accounts, locked=locked)
        return TemplateResponse(request, "audiences/step_editor.html", self._context(
            request,
            title=f"Edit step: {step}",
            canvas=canvas,
            step=step,
            form=form,
            locked=locked,
            search_url=reverse("admin:audiences_step_audience_search", args=[step.pk]),
            analytics_url=reverse("admin:audiences_step_analytics", args=[step.pk]),
            connection_problems=[p for p in [connection_problem(canvas.workspace)] if p],
        ))

    def _step_save(self, request, step: Step, form: AudienceSyncStepForm, locked: bool) -> None:
        data = form.cleaned_data
        if locked:
            services.step_rename(step=step, name=data["name"])
            messages.success(request, "Step saved. Stop the canvas to change its audience, ad account or match fields.")
            return
        ad_account: AdAccount | None = data["ad_account"]
        changes = {
            "name": data["name"],
            "ad_account": ad_account,
            "action": data["action"],
            "match_fields": form.match_fields(),
        }
        typed = (data["audience_name"] or "").strip()
        current = step.audience
        if "_create_audience" in request.POST:
            if ad_account is None:
                raise services.ServiceError("Choose an ad account before creating its audience.")
            with transaction.atomic():
                audience = services.audience_create_draft(workspace=step.canvas.workspace, ad_account=ad_account, name=typed)
                services.step_update(step=step, audience=services.AudienceChoice(audience_id=audience.pk), **changes)
            messages.success(
                request,
                f"Audience “{audience.name}” created. It is made on Pinterest with the first users who reach this step; "
                "its size shows once about 100 users match, which takes 24–48 hours.",
            )
            return
        if data["pinterest_audience_id"]:
            if ad_account is None:
                raise services.ServiceError("Choose an ad account before choosing its audience.")
            audience = services.audience_use_existing(
                workspace=step.canvas.workspace, ad_account=ad_account, pinterest_audience_id=data["pinterest_audience_id"]
            )
            services.step_update(step=step, audience=services.AudienceChoice(audience_id=audience.pk), **changes)
            messages.success(request, f"The step now syncs to the existing Pinterest audience “{audience.name}”.")
            return
        if current is not None and (ad_account is None or current.ad_account_id != ad_account.pk):
            # The audience belongs to the old ad account: the new one needs its own.
            changes["audience"] = None
        services.step_update(step=step, **changes)
        messages.success(request, "Step saved.")
        if typed and (current is None or typed != current.name) and changes.get("audience", current) is not None:
            messages.warning(
                request,
                f"The audience was not changed: pick “{typed}” from the search results, or click Create Audience.",
            )
        elif changes.get("audience", current) is None:
            messages.warning(request, "Choose an existing audience or create one before launching.")

    def audience_search_view(self, request, step_id: int):
        step = self._step(request, step_id)
        # `ad_account` is the ad account's row id (the editor's select); anything
        # else is refused here, before the database or Pinterest sees it.
        raw = request.GET.get("ad_account", "")
        if not AD_ACCOUNT_PK.fullmatch(raw):
            return JsonResponse({"error": "Choose an ad account first."}, status=400)
        ad_account = scoped_choices("ad_account", request).filter(
            connection__workspace=step.canvas.workspace, pk=int(raw)
        ).first()
        if ad_account is None:
            return JsonResponse({"error": "Choose an ad account first."}, status=400)
        bookmark = request.GET.get("bookmark") or None
        if bookmark is not None and not SEARCH_BOOKMARK.fullmatch(bookmark):
            return JsonResponse({"error": "That page of results is no longer available; search again."}, status=400)
        try:
            page = pinterest_audiences_search(
                ad_account=ad_account, search=request.GET.get("q", "")[:100], bookmark=bookmark
            )
        except SHOWN_ERRORS as exc:
            return JsonResponse({"error": str(exc)}, status=502)
        return JsonResponse({
            "items": [
                {"id": a.id, "name": a.name, "size": a.size, "status": a.status}
                for a in page.items
                if a.audience_type == "CUSTOMER_LIST"
            ],
            "next_bookmark": page.next_bookmark,
        })

    # Step analytics.

    def step_analytics_view(self, request, step_id: int):
        step = self._step(request, step_id)
        canvas = step.canvas
        numbers = metrics.step_metrics(step).as_dict()
        audience = step.audience
        return TemplateResponse(request, "audiences/step_analytics.html", self._context(
            request,
            title=f"Analytics: {step}",
            canvas=canvas,
            step=step,
            numbers=[
                {"key": key, "label": label, "value": numbers[key], "help": metrics.EXPLANATIONS[key]}
                for key, label in NUMBERS
            ],
            chart=hourly_chart(metrics.step_hourly_series(step, hours=48)),
            audience=audience,
            members=metrics.audience_member_count(audience.pk) if audience else None,
            send_logs=list(SendLog.objects.filter(audience=audience)[:20]) if audience else [],
            errored=list(
                SyncRecord.objects.filter(step=step, state=SyncRecord.State.ERRORED).order_by("-errored_at", "-id")[:50]
            ),
            errored_total=numbers["errored"],
            actalike_form=ActalikeForm() if audience and audience.status == Audience.Status.READY else None,
            edit_url=reverse("admin:audiences_step_edit", args=[step.pk]) if step.kind == Step.Kind.AUDIENCE_SYNC else "",
            connection_problems=[p for p in [connection_problem(canvas.workspace)] if p],
        ))

    def step_retry_view(self, request, step_id: int):
        step = self._step(request, step_id)
        if request.method == "POST":
            count = services.records_retry_errored(step=step)
            if count:
                messages.success(request, f"{count} errored user{'s' if count != 1 else ''} will be sent again now.")
            else:
                messages.info(request, "No errored users to retry.")
        return HttpResponseRedirect(reverse("admin:audiences_step_analytics", args=[step.pk]))

    def step_actalike_view(self, request, step_id: int):
        step = self._step(request, step_id)
        back = HttpResponseRedirect(reverse("admin:audiences_step_analytics", args=[step.pk]))
        if request.method != "POST" or step.audience is None:
            return back
        form = ActalikeForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label or field.title() if field in form.fields else "Actalike audience"
                messages.error(request, f"{label}: {' '.join(errors)}")
            return back
        try:
            remote = services.audience_create_actalike(
                audience=step.audience,
                country=form.cleaned_data["country"],
                percentage=form.cleaned_data["percentage"],
                name=form.cleaned_data["name"],
            )
        except SHOWN_ERRORS as exc:
            messages.error(request, f"The Actalike audience was not created: {exc}")
        else:
            messages.success(
                request,
                f"Actalike audience “{remote.name}” created on Pinterest (audience id {remote.id}). "
                "Pinterest fills it within 24–48 hours.",
            )
        return back


def hourly_chart(series: list[dict], *, width: int = 760, height: int = 220) -> dict:
    """Bars of entries and syncs per hour, laid out for an inline SVG (no JavaScript, no CDN)."""
    left, right, top, bottom = 44, 8, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([max(p["entered"], p["synced"]) for p in series] + [0])
    y_max = _nice_ceiling(peak)
    slot = plot_w / max(len(series), 1)
    bar = max(slot * 0.38, 1.0)
    bars, labels = [], []
    for i, point in enumerate(series):
        x = left + i * slot
        for offset, key in ((0.1, "entered"), (0.1 + 0.4, "synced")):
            h = plot_h * point[key] / y_max
            if point[key]:
                bars.append({
                    "x": round(x + slot * offset, 1), "y": round(top + plot_h - h, 1), "w": round(bar, 1),
                    "h": round(max(h, 1.0), 1), "kind": key,
                    "title": f"{point['hour']:%b %d %H:00} UTC: {point[key]} {key}",
                })
        if i % 6 == 0:
            labels.append({"x": round(x + slot / 2, 1), "text": f"{point['hour']:%H:00}"})
    grid = [
        {"y": round(top + plot_h - plot_h * v / y_max, 1), "value": v}
        for v in (0, y_max // 2, y_max) if v or v == 0
    ]
    return {
        "width": width, "height": height, "left": left, "right": width - right, "bottom": top + plot_h,
        "bars": bars, "labels": labels, "grid": grid, "label_y": height - 8, "empty": peak == 0,
    }


def _nice_ceiling(value: int) -> int:
    if value <= 4:
        return 4
    magnitude = 10 ** int(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        ceiling = int(step * magnitude)
        if ceiling >= value and ceiling % 2 == 0:
            return ceiling
    return value + value % 2


# --- Audiences, records and send logs (read-only) ---------------------------------------------


class ReadOnlyScopedAdmin(WorkspaceScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Audience)
class AudienceAdmin(ReadOnlyScopedAdmin):
    """Audiences are created in the step editor; here they are listed with their Pinterest state."""

    list_display = ["name", "ad_account", "source", "status", "pinterest_audience_id", "pinterest_size", "checked_at"]
    list_filter = ["status", "source"]
    search_fields = ["name", "pinterest_audience_id"]


@admin.register(SyncRecord)
class SyncRecordAdmin(ReadOnlyScopedAdmin):
    workspace_path = "step__canvas__workspace"
    list_display = ["external_id", "step", "action", "state", "attempts", "entered_at", "synced_at", "last_error"]
    list_filter = ["state", "action"]
    search_fields = ["external_id"]
    list_select_related = ["step"]
    exclude = ["lease_owner", "lease_expires_at"]


@admin.register(SendLog)
class SendLogAdmin(ReadOnlyScopedAdmin):
    workspace_path = "audience__workspace"
    list_display = ["started_at", "audience", "operation", "list_type", "size", "outcome", "http_status", "duration_ms", "error"]
    list_filter = ["outcome", "operation"]
    list_select_related = ["audience"]
