"""Trust and privacy in the admin: the audit log, the suppression list, erasures.

Lists are read-only and scoped to the marketer's workspaces; uploading to
the suppression list and erasing a user are forms that call services.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audiences import services
from audiences.models import (
    AlertDelivery,
    AlertSettings,
    AuditEvent,
    Incident,
    PrivacyRequest,
    Step,
    SuppressedIdentifier,
)
from audiences.services import suppression
from integrations.admin import ReadOnlyScopedAdmin, WorkspaceScopedAdmin, user_workspaces


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyScopedAdmin):
    list_display = ["at", "workspace", "action", "source", "actor", "ip", "target", "details"]
    list_filter = ["action", "source"]
    search_fields = ["actor", "target"]
    list_select_related = ["workspace"]


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
    """The form's CSV, uploaded or pasted, as text in data["csv"]."""
    upload = data.get("file")
    if upload is not None:
        try:
            data["csv"] = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text.") from None
    else:
        data["csv"] = data.get("text") or ""
    if not data["csv"].strip():
        raise forms.ValidationError("Upload a CSV file or paste one.")
    return data


@admin.register(SuppressedIdentifier)
class SuppressedIdentifierAdmin(ReadOnlyScopedAdmin):
    list_display = ["created_at", "workspace", "kind", "value_hash"]
    list_filter = ["kind"]
    search_fields = ["value_hash"]
    change_list_template = "admin/audiences/suppressedidentifier/change_list.html"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("upload/", wrap(self.upload_view), name="audiences_suppression_upload"),
                path("preview/<int:step_id>/", wrap(lambda request, step_id: step_preview_view(self, request, step_id)),
                     name="audiences_step_preview"),
                *super().get_urls()]

    def upload_view(self, request):
        if not self.has_module_permission(request):
            raise PermissionDenied
        form = SuppressionUploadForm(request.POST or None, request.FILES or None, workspaces=user_workspaces(request))
        if request.method == "POST" and form.is_valid():
            workspace, mode = form.cleaned_data["workspace"], form.cleaned_data["mode"]
            try:
                entries = suppression.entries_from_csv(form.cleaned_data["csv"])
                if mode == "add":
                    result = services.suppression_add(workspace=workspace, entries=entries)
                    messages.success(request, f"{result.listed} identifiers listed ({result.already_listed} were "
                                              f"already); {result.removals_started} users are being removed from "
                                              "the audiences they are in.")
                else:
                    removed = services.suppression_remove(workspace=workspace, entries=entries)
                    messages.success(request, f"{removed} identifiers taken off the list.")
                return HttpResponseRedirect(reverse("admin:audiences_suppressedidentifier_changelist"))
            except services.EntryRejected as exc:
                form.add_error(None, f"Row {exc.row}: {exc.message}. Nothing was changed.")
        return TemplateResponse(request, "audiences/trust_form.html", {
            **self.admin_site.each_context(request), "title": "Upload to the suppression list", "form": form,
            "submit_label": "Upload", "back_url": reverse("admin:audiences_suppressedidentifier_changelist"),
            "back_label": "Suppressed identifiers",
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
        form = EraseForm(request.POST or None, workspaces=user_workspaces(request))
        if request.method == "POST" and form.is_valid():
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
    form = PreviewForm(request.POST or None, request.FILES or None)
    preview = None
    if request.method == "POST" and form.is_valid():
        try:
            users = suppression.entries_from_csv(form.cleaned_data["csv"])
            preview = services.step_preview(step=step, users=users, volume=form.cleaned_data.get("volume"))
        except services.EntryRejected as exc:
            form.add_error(None, f"Row {exc.row}: {exc.message}.")
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


@admin.register(AlertSettings)
class AlertSettingsAdmin(WorkspaceScopedAdmin):
    member_can_add = True
    member_can_change = True
    form = AlertSettingsForm
    list_display = ["workspace", "enabled", "to_admins", "webhook_url", "errored_threshold"]
    readonly_fields = ["webhook_secret"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is not None:
            form.base_fields["emails_text"].initial = "\n".join(obj.emails)
        return form

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
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


class DeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = readonly_fields = ["event", "channel", "recipient", "status", "attempts", "last_error", "sent_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyScopedAdmin):
    list_display = ["opened_at", "workspace", "kind", "summary", "resolved_at"]
    list_filter = ["kind"]
    inlines = [DeliveryInline]
