"""Trust and privacy in the admin: the audit log, the suppression list, erasures.

Lists are read-only and scoped to the marketer's workspaces; uploading to
the suppression list and erasing a user are forms that call services.
"""

from __future__ import annotations

import io
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audiences import services
from audiences.admin.audit_words import action_words, event_sentence
from audiences.admin.history import HistoryAdmin
from audiences.admin.uploads import actor_of, job_url
from audiences.models import (
    AlertDelivery,
    AlertSettings,
    AuditEvent,
    ImportJob,
    Incident,
    PrivacyRequest,
    Step,
    SuppressedIdentifier,
)
from audiences.services import imports, imports_csv
from audiences.services.alert_mail import alert_test_send, incident_path
from audiences.services.preview import SAMPLE_MAX
from audiences.services.suppression_check import external_id_hash
from integrations import roles
from integrations.roles import Action
from integrations.admin import ReadOnlyScopedAdmin, WorkspaceScopedAdmin, user_workspaces, workspace_ids
from integrations.models import Workspace
from integrations.pinterest import identifiers


class AuditActionFilter(admin.SimpleListFilter):
    """Actions by their words; the parameter stays the admin's own `action__exact` (the partitions read it)."""

    title = "what happened"
    parameter_name = "action__exact"

    def lookups(self, request, model_admin):
        codes = model_admin.get_queryset(request).order_by().values_list("action", flat=True).distinct()
        return sorted(((code, action_words(code)) for code in codes), key=lambda pair: pair[1])

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(HistoryAdmin, ReadOnlyScopedAdmin):
    list_display = ["at", "workspace", "what", "source", "actor", "ip", "target"]
    list_filter = [AuditActionFilter, "source"]
    search_fields = ["actor", "target"]
    list_select_related = ["workspace"]

    @admin.display(description="What happened", ordering="action")
    def what(self, obj):
        # The sentence a marketer reads; the recorded code stays one hover away (and on the event's page).
        return format_html('<span title="{}" class="audit-code">{}</span>', obj.action,
                           event_sentence(obj.action, obj.details))

    def history_partitions(self, request, changelist):
        """One range per visible workspace (`auditevent_workspace_recent` keeps each in id order)."""
        filtered = any(request.GET.get(k) for k in ("action__exact", "source__exact"))
        if request.user.is_superuser and not filtered:
            return None
        partitions = [{"workspace_id": pk} for pk in sorted(workspace_ids(request))]
        if request.user.is_superuser:
            partitions = [{"workspace_id": pk} for pk in Workspace.objects.values_list("pk", flat=True)]
            partitions.append({"workspace__isnull": True})
        return partitions


class SuppressionUploadForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None)
    mode = forms.ChoiceField(choices=[("add", "Add to the list"), ("remove", "Take off the list")], initial="add")
    file = forms.FileField(required=False, help_text="CSV with a header: any of external_id, email, ios_idfa, "
                           "android_aid. Values are hashed on arrival; only hashes are stored.")
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}), label="Or paste CSV")

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces

    def clean(self):
        return csv_of(super().clean())


def csv_of(data: dict) -> dict:
    """The form's CSV, uploaded or pasted, as a binary file in data["csv"] (for the import reader)."""
    upload = data.get("file")
    if upload is not None:
        data["csv"], data["csv_name"] = upload, upload.name or "upload.csv"
    elif (data.get("text") or "").strip():
        data["csv"], data["csv_name"] = io.BytesIO(data["text"].encode("utf-8")), "pasted.csv"
    else:
        raise forms.ValidationError("Upload a CSV file or paste one.")
    return data


def lookup_hashes(term: str) -> set[str]:
    """Every hash a typed email, IDFA, Android ad id, external id or hash could be stored as."""
    found = {external_id_hash(term)}
    if re.fullmatch(r"[0-9a-fA-F]{64}", term):
        found.add(term.lower())
    for hasher in (identifiers.hash_email, identifiers.hash_idfa, identifiers.hash_android_aid):
        try:
            found.add(hasher(term))
        except ValueError:  # not a valid value of that kind
            continue
    return found


@admin.register(SuppressedIdentifier)
class SuppressedIdentifierAdmin(ReadOnlyScopedAdmin):
    list_display = ["created_at", "workspace", "kind", "value_hash"]
    list_filter = ["kind"]
    search_fields = ["value_hash"]
    search_help_text = "Type an email, an ad id or an external id: it is hashed as the list stores it, then looked up."
    change_list_template = "admin/audiences/suppressedidentifier/change_list.html"

    def get_search_results(self, request, queryset, search_term):
        # Only hashes are stored: hash what is typed every way the list could hold it, then match exactly.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(value_hash__in=lookup_hashes(term)), False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("upload/", wrap(self.upload_view), name="audiences_suppression_upload"),
                path("preview/<int:step_id>/", wrap(lambda request, step_id: step_preview_view(self, request, step_id)),
                     name="audiences_step_preview"),
                *super().get_urls()]

    def upload_view(self, request):
        if not self.has_module_permission(request):
            raise PermissionDenied
        roles.require_anywhere(request.user, Action.SUPPRESSION_EDIT)
        form = SuppressionUploadForm(request.POST or None, request.FILES or None, workspaces=user_workspaces(
            request).filter(pk__in=roles.workspaces_where(request.user, Action.SUPPRESSION_EDIT)))
        if request.method == "POST" and form.is_valid():
            workspace, mode = form.cleaned_data["workspace"], form.cleaned_data["mode"]
            roles.require(request.user, workspace, Action.SUPPRESSION_EDIT)
            # A job like a canvas upload: checked whole, listed in parts, followed on its page.
            kind = ImportJob.Kind.SUPPRESS if mode == "add" else ImportJob.Kind.UNSUPPRESS
            try:
                job = imports.import_create(workspace=workspace, kind=kind, file=form.cleaned_data["csv"],
                                            file_name=form.cleaned_data["csv_name"], user=request.user,
                                            actor=actor_of(request))
            except services.ServiceError as exc:
                form.add_error(None, f"{exc} Nothing was changed.")
            else:
                return HttpResponseRedirect(job_url(job))
        return TemplateResponse(request, "audiences/trust_form.html", {
            **self.admin_site.each_context(request), "title": "Upload to the suppression list", "form": form,
            "submit_label": "Upload", "back_url": reverse("admin:audiences_suppressedidentifier_changelist"),
            "back_label": "Suppression list",
            "intro": "People on the list are never added to a Pinterest audience of the workspace, and are taken "
                     "out of every audience they are in.",
        })


class EraseForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=None)
    external_id = forms.CharField(max_length=255, label="External id of the user")

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(ReadOnlyScopedAdmin):
    list_display = ["requested_at", "workspace", "kind", "status", "attempts", "last_error", "removed", "done_at"]
    list_filter = ["kind", "status"]
    change_list_template = "admin/audiences/privacyrequest/change_list.html"

    def get_urls(self):
        return [path("erase/", self.admin_site.admin_view(self.erase_view), name="audiences_user_erase"),
                *super().get_urls()]

    def erase_view(self, request):
        if not self.has_module_permission(request):
            raise PermissionDenied
        roles.require_anywhere(request.user, Action.USERS_ERASE)
        form = EraseForm(request.POST or None, workspaces=user_workspaces(request).filter(
            pk__in=roles.workspaces_where(request.user, Action.USERS_ERASE)))
        if request.method == "POST" and form.is_valid():
            roles.require(request.user, form.cleaned_data["workspace"], Action.USERS_ERASE)
            try:
                erasure = services.erasure_request(workspace=form.cleaned_data["workspace"],
                                                   external_id=form.cleaned_data["external_id"])
            except services.ServiceError as exc:  # a bad id, or nothing to erase
                form.add_error("external_id", getattr(exc, "message", None) or str(exc))
            else:
                messages.success(request, f"Erasure #{erasure.pk} is pending: the user is being removed from every "
                                          "Pinterest audience; their records are deleted once Pinterest accepted.")
                return HttpResponseRedirect(reverse("admin:audiences_privacyrequest_changelist"))
        return TemplateResponse(request, "audiences/trust_form.html", {
            **self.admin_site.each_context(request), "title": "Erase a user", "form": form, "submit_label": "Erase",
            "back_url": reverse("admin:audiences_privacyrequest_changelist"), "back_label": "Privacy requests",
            "intro": "Removes the user from every Pinterest audience they were added to, then deletes their sync "
                     "records, delay records and ledger entries. The steps' figures keep them as counts.",
        })


class PreviewForm(forms.Form):
    file = forms.FileField(required=False, help_text="CSV with a header: external_id and any of email, ios_idfa, "
                           "android_aid.")
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}), label="Or paste CSV")
    volume = forms.IntegerField(required=False, min_value=1, help_text="Estimate requests and time for this many "
                                "users (default: the sample's size).")

    def clean(self):
        return csv_of(super().clean())


def step_preview_view(model_admin: admin.ModelAdmin, request, step_id: int):
    """The step's dry run: never calls Pinterest, stores nothing."""
    steps = Step.objects.select_related("canvas", "audience").filter(kind=Step.Kind.AUDIENCE_SYNC)
    if not request.user.is_superuser:
        steps = steps.filter(canvas__workspace__in=user_workspaces(request))
    step = get_object_or_404(steps, pk=step_id)
    roles.require(request.user, step.canvas.workspace_id, Action.STEP_PREVIEW)
    form = PreviewForm(request.POST or None, request.FILES or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        try:
            users, checked = imports_csv.read_users(form.cleaned_data["csv"], limit=SAMPLE_MAX)
            if not checked.ok:
                raise services.ServiceError(f"Bad rows: {imports_csv.errors_text(checked)}.")
            preview = services.step_preview(step=step, users=users, volume=form.cleaned_data.get("volume"))
        except services.ServiceError as exc:
            form.add_error(None, str(exc))
    return TemplateResponse(request, "audiences/trust_form.html", {
        **model_admin.admin_site.each_context(request), "title": f"Preview: {step}", "form": form,
        "submit_label": "Preview", "preview": preview.as_dict() if preview else None,
        "back_url": reverse("admin:audiences_canvas_change", args=[step.canvas_id]), "back_label": str(step.canvas),
        "intro": "What this step would do for a sample of users: nothing is sent to Pinterest or stored.",
    })


class AlertSettingsForm(forms.ModelForm):
    webhook_url = forms.URLField(required=False, assume_scheme="https", help_text="Signed alerts are POSTed here.")
    emails_text = forms.CharField(required=False, label="Emails", widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="One address per line (the workspace's admins are told too unless "
                                            "you untick “to admins”).")

    class Meta:
        model = AlertSettings
        fields = ["workspace", "enabled", "to_admins", "webhook_url", "errored_threshold"]

    def clean_webhook_url(self):
        url = self.cleaned_data.get("webhook_url") or ""
        if url:
            try:
                services.webhook_url_validate(url)  # only public addresses (or the allowed hosts)
            except services.ServiceError as exc:
                raise forms.ValidationError(str(exc)) from None
        return url


@admin.register(AlertSettings)
class AlertSettingsAdmin(WorkspaceScopedAdmin):
    # Workspace admins only: the page shows the webhook's secret.
    view_action = add_action = change_action = Action.ALERTS_MANAGE
    form = AlertSettingsForm
    list_display = ["workspace", "enabled", "to_admins", "webhook_url", "errored_threshold"]
    readonly_fields = ["webhook_secret"]
    change_form_template = "admin/audiences/alertsettings/change_form.html"

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None:
            form.base_fields["emails_text"].initial = "\n".join(obj.emails)
        return form

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        roles.require(request.user, data["workspace"], Action.ALERTS_MANAGE)
        try:
            saved = services.alert_settings_update(
                workspace=data["workspace"], enabled=data["enabled"], to_admins=data["to_admins"],
                emails=[line.strip() for line in data["emails_text"].splitlines() if line.strip()],
                webhook_url=data["webhook_url"], errored_threshold=data["errored_threshold"],
            )
        except services.ServiceError as exc:
            messages.error(request, str(exc))
            saved = services.alert_settings_of(data["workspace"])
        obj.pk = saved.pk

    def delete_model(self, request, obj):  # pragma: no cover - members cannot delete
        raise PermissionDenied

    def changelist_view(self, request, extra_context=None):
        # Alerts are on before anyone saves settings: show each workspace's row rather than "0 alert settings".
        for workspace in user_workspaces(request).filter(pk__in=roles.workspaces_where(request.user,
                                                                                        Action.ALERTS_MANAGE)):
            if not AlertSettings.objects.filter(workspace=workspace).exists():
                services.alert_settings_update(workspace=workspace)
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("<int:settings_id>/test/", wrap(self.test_view), name="audiences_alertsettings_test"),
                *super().get_urls()]

    def test_view(self, request, settings_id: int):
        """POST: a test email to everyone the workspace's alerts reach now."""
        row = get_object_or_404(self.get_queryset(request), pk=settings_id)
        roles.require(request.user, row.workspace_id, Action.ALERTS_MANAGE)
        if request.method == "POST":
            sent = alert_test_send(workspace=row.workspace)
            if sent:
                messages.success(request, f"A test alert was sent to {', '.join(sent)}.")
            else:
                messages.warning(request, "Nobody would receive an alert: turn alerts on, or add an address.")
        return HttpResponseRedirect(reverse("admin:audiences_alertsettings_change", args=[row.pk]))


class DeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = readonly_fields = ["event", "channel", "recipient", "status", "attempts", "last_error", "sent_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # Marketers hold no model permissions: the incident page itself is scoped to their workspaces.
        return super().has_view_permission(request, obj) or bool(workspace_ids(request))


@admin.register(Incident)
class IncidentAdmin(ReadOnlyScopedAdmin):
    list_display = ["opened_at", "workspace", "kind", "summary", "where", "resolved_at"]
    list_filter = ["kind"]
    inlines = [DeliveryInline]

    @admin.display(description="Where to look")
    def where(self, incident):
        return format_html('<a href="{}">Open</a>', incident_path(incident))
