"""The admin pages of a workspace's Pinterest side: its connection (read-only), ad accounts and API keys.

Registered when the app is ready (integrations.apps), on the workspace
scoping of integrations.admin; writes go through the services.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from integrations.admin import ReadOnlyScopedAdmin, WorkspaceScopedAdmin, adopt, user_workspaces
from integrations.api_keys import api_key_create, api_key_revoke
from integrations.models import AdAccount, ApiKey, PinterestConnection
from integrations.roles import Action
from integrations.services.connections import ad_accounts_enable


@admin.register(PinterestConnection)
class PinterestConnectionAdmin(ReadOnlyScopedAdmin):
    """Read-only: connecting and disconnecting happen on the workspace's Pinterest page.

    The token fields are never listed, shown or editable here.
    """

    list_display = ["workspace", "pinterest_username", "status", "last_error", "last_success_at", "pinterest_page"]
    list_filter = ["status"]
    fields = [
        "workspace", "pinterest_username", "pinterest_user_id", "status", "last_error", "last_error_at",
        "last_success_at", "last_refreshed_at", "access_token_expires_at", "refresh_token_expires_at", "scope",
        "terms_accepted_by", "terms_accepted_at", "connected_at", "pinterest_page",
    ]
    readonly_fields = fields

    @admin.display(description="Connect / disconnect")
    def pinterest_page(self, obj):
        return format_html(
            '<a href="{}">Manage on the Pinterest page</a>', reverse("integrations:partner", args=[obj.workspace.slug])
        )


@admin.register(AdAccount)
class AdAccountAdmin(WorkspaceScopedAdmin):
    """Ad accounts come from Pinterest; the workspace only chooses which ones it may use."""

    workspace_path = "connection__workspace"
    change_action = Action.AD_ACCOUNTS_CHOOSE
    list_display = ["name", "pinterest_id", "workspace_name", "country", "currency", "enabled", "available"]
    list_filter = ["enabled", "available"]
    search_fields = ["name", "pinterest_id"]
    fields = ["name", "pinterest_id", "connection", "country", "currency", "enabled", "available"]
    readonly_fields = fields
    actions = ["enable", "disable"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Workspace")
    def workspace_name(self, obj):
        return obj.connection.workspace

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        for ad_account in queryset:
            self.require(request, Action.AD_ACCOUNTS_CHOOSE, ad_account)  # before anything changes
        for connection in PinterestConnection.objects.filter(ad_accounts__in=queryset).distinct():
            chosen = set(queryset.filter(connection=connection).values_list("pinterest_id", flat=True))
            current = set(connection.ad_accounts.filter(enabled=True).values_list("pinterest_id", flat=True))
            ad_accounts_enable(connection=connection, enabled_ids=current | chosen if enabled else current - chosen)
        verb = "may now use" if enabled else "no longer uses"
        self.message_user(request, f"The workspace {verb} {queryset.count()} ad account(s).", messages.SUCCESS)

    @admin.action(description="Let the workspace use the selected ad accounts", permissions=["change"])
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Stop using the selected ad accounts", permissions=["change"])
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, False)


@admin.register(ApiKey)
class ApiKeyAdmin(WorkspaceScopedAdmin):
    """Keys are created here (the plaintext is shown once) and revoked; never edited or shown again."""

    # Only workspace admins see, create and revoke keys.
    view_action = Action.API_KEYS_MANAGE
    add_action = Action.API_KEYS_MANAGE
    list_display = ["prefix", "name", "workspace", "scope", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_filter = ["scope", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["workspace", "name", "scope"]
        return ["prefix", "name", "workspace", "scope", "created_at", "created_by", "last_used_at", "revoked_at"]

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "scope":
            kwargs["widget"] = forms.RadioSelect
            kwargs["help_text"] = ("Entries only: POST users into canvases, nothing else. Read only: every GET. "
                                   "Full: everything. Chosen now for good; a wider key is a new key.")
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def get_changeform_initial_data(self, request):
        workspaces = list(user_workspaces(request)[:2])
        return {"workspace": workspaces[0].pk} if len(workspaces) == 1 else {}

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        self.require(request, Action.API_KEYS_MANAGE, obj)
        created, plaintext = api_key_create(workspace=obj.workspace, name=obj.name, created_by=request.user,
                                            scope=obj.scope)
        adopt(obj, created)
        self.message_user(
            request,
            f"Your new API key is {plaintext} — copy it now: it is shown only once and cannot be recovered.",
            messages.WARNING,
        )

    def has_revoke_permission(self, request):
        return request.user.is_superuser or self.member_may(request, Action.API_KEYS_MANAGE)

    @admin.action(description="Revoke the selected API keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        for api_key in queryset:
            self.require(request, Action.API_KEYS_MANAGE, api_key)  # before any is revoked
        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} API key(s); they stop working at once.", messages.SUCCESS)
