"""Audiences, sync records and the send log in the admin: read-only, scoped to the marketer's workspaces.

Titles and labels are in the marketer's words ("u123 in Spring sale · synced",
"Email (hashed)"), not field names. The filters list the marketer's own
canvases and steps, read from those small tables, never from the records.
The lists of records and send logs are paged by audiences.admin.history, so
a page costs the same however long the history is.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from audiences.admin.figures import OPERATION_WORDS, TYPE_WORDS
from audiences.admin.history import HistoryAdmin
from audiences.admin.numbers import count_column
from audiences.admin.person_lookup import PersonLookupPages
from audiences.models import LIST_TYPE_BITS, Audience, Canvas, SendLog, Step, SyncRecord
from integrations.admin import ReadOnlyScopedAdmin, workspace_ids


@admin.register(Audience)
class AudienceAdmin(ReadOnlyScopedAdmin):
    """Audiences are created in the step editor; here they are listed with their Pinterest state."""

    list_display = ["name", "ad_account", "source", "status", "pinterest_audience_id", "pinterest_size_count",
                    "checked_at"]
    list_filter = ["status", "source"]
    search_fields = ["name", "pinterest_audience_id"]
    pinterest_size_count = count_column("pinterest_size", "Pinterest size")


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
class SyncRecordAdmin(PersonLookupPages, HistoryAdmin, ReadOnlyScopedAdmin):
    workspace_path = "step__canvas__workspace"
    change_list_template = "admin/audiences/syncrecord/change_list.html"

    def get_urls(self):
        find = path("find/", self.admin_site.admin_view(self.person_lookup_view), name="audiences_person_lookup")
        return [find, *super().get_urls()]
    list_display = ["external_id", "canvas_name", "step", "action", "state", "attempts", "entered_at", "synced_at",
                    "cause"]
    list_filter = ["state", CanvasFilter, StepFilter, "action"]
    search_fields = ["=external_id"]
    search_help_text = "A user's external id, exactly as it was entered."
    list_select_related = ["step__canvas"]

    def get_search_results(self, request, queryset, search_term):
        # The whole id, case and all: one lookup on `syncrecord_external_id` (the admin's own "=" is a
        # case-insensitive LIKE, which no index serves).
        term = search_term.strip()
        return (queryset.filter(external_id=term) if term else queryset), False

    def history_partitions(self, request, changelist):
        """One range per visible sync step and state (`syncrecord_step_state` keeps each in id order)."""
        params = request.GET
        if request.user.is_superuser and not any(params.get(k) for k in ("state__exact", "step", "canvas")):
            return None  # everyone's records, newest first: the primary key alone
        steps = _scoped(request, Step.objects.filter(kind=Step.Kind.AUDIENCE_SYNC), "canvas__workspace")
        for name, field in (("step", "pk"), ("canvas", "canvas_id")):
            value = params.get(name, "")
            if value:
                steps = steps.filter(**{field: int(value)}) if value.isdigit() else steps.none()
        state = params.get("state__exact", "")
        states = [state] if state else SyncRecord.State.values
        return [{"step_id": step_id, "state": s} for step_id in steps.values_list("pk", flat=True) for s in states]
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


class OperationFilter(admin.SimpleListFilter):
    """Requests by what they asked in words ("Add users"); the parameter stays the admin's `operation__exact`."""

    title = "request"
    parameter_name = "operation__exact"

    def lookups(self, request, model_admin):
        return list(OPERATION_WORDS.items())

    def queryset(self, request, queryset):
        return queryset.filter(operation=self.value()) if self.value() else queryset


@admin.register(SendLog)
class SendLogAdmin(HistoryAdmin, ReadOnlyScopedAdmin):
    workspace_path = "audience__workspace"
    list_display = ["started_at", "audience", "request_words", "customer_list", "size_count", "outcome", "http_status",
                    "duration_ms_count", "error"]
    size_count = count_column("size", "Users")
    duration_ms_count = count_column("duration_ms", "Duration (ms)")
    list_filter = [ReachedFilter, "outcome", OperationFilter]
    list_select_related = ["audience"]

    def history_partitions(self, request, changelist):
        """One range per visible audience and the rarest filter chosen, each an index range in id order.

        Held back (never answered), then an outcome, then a request kind: each
        has an index that starts with the audience, so a filter that matches
        few rows does not walk every request of the audience to find them. The
        other filters chosen are read within those ranges. "Reached Pinterest"
        matches nearly every row, so the audience's range serves it.
        """
        params = request.GET
        filtered = any(params.get(k) for k in ("reached", "outcome__exact", "operation__exact"))
        if request.user.is_superuser and not filtered:
            return None
        if params.get("reached") == "no":
            within = {"http_status__isnull": True}
        elif params.get("outcome__exact"):
            within = {"outcome": params["outcome__exact"]}
        elif params.get("operation__exact"):
            within = {"operation": params["operation__exact"]}
        else:
            within = {}
        audiences = list(_scoped(request, Audience.objects.all(), "workspace").values_list("pk", flat=True))
        partitions = [{"audience_id": pk, **within} for pk in audiences]
        if request.user.is_superuser:
            partitions.append({"audience__isnull": True})  # requests of audiences deleted since
        return partitions

    @admin.display(description="Request", ordering="operation")
    def request_words(self, obj):
        return OPERATION_WORDS.get(obj.operation, obj.operation.replace("_", " ").capitalize())

    @admin.display(description="Customer list")
    def customer_list(self, obj):
        return obj.pinterest_customer_list_id or "—"
