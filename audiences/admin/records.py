"""Audiences, sync records and the send log in the admin: read-only, scoped to the marketer's workspaces.

Titles and labels are in the marketer's words ("u123 in Spring sale · synced",
"Email (hashed)"), not field names. The filters list the marketer's own
canvases and steps, read from those small tables, never from the records.
"""

from __future__ import annotations

from django.contrib import admin

from audiences.admin.figures import OPERATION_WORDS, TYPE_WORDS
from audiences.models import LIST_TYPE_BITS, Audience, Canvas, SendLog, Step, SyncRecord
from integrations.admin import ReadOnlyScopedAdmin, workspace_ids


@admin.register(Audience)
class AudienceAdmin(ReadOnlyScopedAdmin):
    """Audiences are created in the step editor; here they are listed with their Pinterest state."""

    list_display = ["name", "ad_account", "source", "status", "pinterest_audience_id", "pinterest_size", "checked_at"]
    list_filter = ["status", "source"]
    search_fields = ["name", "pinterest_audience_id"]


def _scoped(request, queryset, path: str):
    return queryset if request.user.is_superuser else queryset.filter(**{f"{path}__in": workspace_ids(request)})


class CanvasFilter(admin.SimpleListFilter):
    title = "canvas"
    parameter_name = "canvas"

    def lookups(self, request, model_admin):
        canvases = _scoped(request, Canvas.objects.all(), "workspace").order_by("name")[:200]
        return [(str(c.pk), c.name) for c in canvases]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(step__canvas_id=int(value)) if value and value.isdigit() else queryset


class StepFilter(admin.SimpleListFilter):
    title = "step"
    parameter_name = "step"

    def lookups(self, request, model_admin):
        steps = _scoped(request, Step.objects.filter(kind=Step.Kind.AUDIENCE_SYNC), "canvas__workspace")
        canvas = request.GET.get("canvas", "")
        if canvas.isdigit():
            steps = steps.filter(canvas_id=int(canvas))
        steps = steps.select_related("canvas").order_by("canvas__name", "position")[:200]
        return [(str(s.pk), f"{s.canvas.name} › {s}") for s in steps]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(step_id=int(value)) if value and value.isdigit() else queryset


@admin.register(SyncRecord)
class SyncRecordAdmin(ReadOnlyScopedAdmin):
    workspace_path = "step__canvas__workspace"
    list_display = ["external_id", "canvas_name", "step", "action", "state", "attempts", "entered_at", "synced_at",
                    "cause"]
    list_filter = ["state", CanvasFilter, StepFilter, "action"]
    search_fields = ["external_id"]
    list_select_related = ["step__canvas"]
    show_full_result_count = False  # no COUNT(*) over millions of records on every page
    fields = ["external_id", "canvas_name", "step", "action", "state", "identifiers", "sent_to", "attempts",
              "entered_at", "next_attempt_at", "synced_at", "errored_at", "last_error", "email_hashed", "idfa_hashed",
              "maid_hashed"]
    readonly_fields = fields

    @admin.display(description="Canvas")
    def canvas_name(self, obj):
        return obj.step.canvas.name

    @admin.display(description="Cause of the last error")
    def cause(self, obj):
        return obj.last_error[:120]

    @admin.display(description="Identifiers")
    def identifiers(self, obj):
        words = [word for value, word in ((obj.email_hash, "email"), (obj.idfa_hash, "iOS IDFA"),
                                          (obj.maid_hash, "Android advertising id")) if value]
        return ", ".join(words) or "none of the step's match fields"

    @admin.display(description="Already sent")
    def sent_to(self, obj):
        sent = [TYPE_WORDS[t].lower() for t, bit in LIST_TYPE_BITS.items() if obj.sent_types & bit]
        return ", ".join(sent) or "nothing yet"

    @admin.display(description="Email (hashed)")
    def email_hashed(self, obj):
        return obj.email_hash or "—"

    @admin.display(description="iOS IDFA (hashed)")
    def idfa_hashed(self, obj):
        return obj.idfa_hash or "—"

    @admin.display(description="Android advertising id (hashed)")
    def maid_hashed(self, obj):
        return obj.maid_hash or "—"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        record = self.get_object(request, object_id)
        title = f"{record.external_id} in {record.step.canvas.name} · {record.get_state_display().lower()}"
        extra = {**(extra_context or {}), "subtitle": title, "original": _Titled(record, title)}
        return super().change_view(request, object_id, form_url, extra)


class _Titled:
    """A row that reads as `title` in the page's breadcrumbs (the model's own str is "SyncRecord object (1)")."""

    def __init__(self, obj, title: str):
        self._obj, self._title = obj, title

    def __getattr__(self, name):
        return getattr(self._obj, name)

    def __str__(self) -> str:
        return self._title


class ReachedFilter(admin.SimpleListFilter):
    """Requests that reached Pinterest, or chunks held back without a call (one held batch, several rows)."""

    title = "whether it reached Pinterest"
    parameter_name = "reached"

    def lookups(self, request, model_admin):
        return [("yes", "Reached Pinterest"), ("no", "Held back, not sent")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(http_status__isnull=False)
        if self.value() == "no":
            return queryset.filter(http_status__isnull=True)
        return queryset


@admin.register(SendLog)
class SendLogAdmin(ReadOnlyScopedAdmin):
    workspace_path = "audience__workspace"
    list_display = ["started_at", "audience", "request_words", "customer_list", "size", "outcome", "http_status",
                    "duration_ms", "error"]
    list_filter = [ReachedFilter, "outcome", "operation"]
    list_select_related = ["audience"]

    @admin.display(description="Request", ordering="operation")
    def request_words(self, obj):
        return OPERATION_WORDS.get(obj.operation, obj.operation.replace("_", " ").capitalize())

    @admin.display(description="Customer list")
    def customer_list(self, obj):
        return obj.pinterest_customer_list_id or "—"
