"""Audiences, sync records and the send log in the admin: read-only, scoped to the marketer's workspaces."""

from __future__ import annotations

from django.contrib import admin

from audiences.models import Audience, SendLog, SyncRecord
from integrations.admin import WorkspaceScopedAdmin


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
