"""The admin for workspaces, Pinterest connections, ad accounts and API keys.

Marketers are staff users without Django model permissions: what they may
see is decided by workspace membership (WorkspaceScopedAdmin). Every query
is scoped to the marketer's workspaces, and another workspace's object
answers 404, never "perhaps it was deleted". Writes go through services.
"""

from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from integrations import services
from integrations.models import AdAccount, ApiKey, Membership, PinterestConnection, Workspace

# Staff sign in through allauth (/accounts/login/), like everyone else.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Pinterest Audience Sync"
admin.site.site_title = "Pinterest Audience Sync"
admin.site.index_title = "Canvases and Pinterest"
# The service has no public site: "View site" would lead to a 404.
admin.site.site_url = None

# Apps only staff who run the service need: a marketer never sees them in the menu.
STAFF_ONLY_APPS = {"django_q", "account", "socialaccount", "auth", "sites"}
_get_app_list = admin.site.get_app_list


def _app_list_for(request, app_label=None):
    apps = _get_app_list(request, app_label)
    if request.user.is_superuser:
        return apps
    return [app for app in apps if app["app_label"] not in STAFF_ONLY_APPS]


admin.site.get_app_list = _app_list_for


def workspace_ids(request) -> set[int]:
    """Ids of the workspaces the signed-in user is a member of (cached per request)."""
    if not hasattr(request, "_workspace_ids"):
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            request._workspace_ids = set()
        else:
            request._workspace_ids = set(Membership.objects.filter(user=user).values_list("workspace_id", flat=True))
    return request._workspace_ids


def user_workspaces(request):
    if request.user.is_superuser:
        return Workspace.objects.all()
    return Workspace.objects.filter(pk__in=workspace_ids(request))


class WorkspaceScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows belong to a workspace through `workspace_path`.

    Superusers keep Django's permissions and see everything. A staff member
    of a workspace may view (and, where `member_can_*` says so, add, change
    and delete) the rows of their workspaces only.
    """

    workspace_path = "workspace"
    member_can_add = False
    member_can_change = False
    member_can_delete = False

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.workspace_path}__in": workspace_ids(request)})

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Another workspace's object and a missing one look the same.
            raise Http404("No such object.")
        return obj

    def _is_member(self, request) -> bool:
        return bool(workspace_ids(request))

    def has_module_permission(self, request):
        return request.user.is_superuser or self._is_member(request)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self._is_member(request)

    def has_add_permission(self, request):
        return super().has_add_permission(request) or (self.member_can_add and self._is_member(request))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or (self.member_can_change and self._is_member(request))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) or (self.member_can_delete and self._is_member(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scoped = scoped_choices(db_field.name, request)
        if scoped is not None:
            kwargs["queryset"] = scoped
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def scoped_choices(field_name: str, request):
    """The choices a foreign key named `field_name` may take for this user (None: not scoped here)."""
    if field_name == "workspace":
        return user_workspaces(request)
    if field_name == "ad_account":
        qs = AdAccount.objects.filter(enabled=True).select_related("connection")
        if not request.user.is_superuser:
            qs = qs.filter(connection__workspace__in=workspace_ids(request))
        return qs
    return None


class ReadOnlyScopedAdmin(WorkspaceScopedAdmin):
    """Shown, never written here: the services (and their pages) are the only writers."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    # Workspaces and memberships are managed by superusers only.
    list_display = ["slug", "name", "created_at", "pinterest_page"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    @admin.display(description="Pinterest")
    def pinterest_page(self, obj):
        return format_html('<a href="{}">Pinterest page</a>', reverse("integrations:partner", args=[obj.slug]))

    @admin.display(description="Marketers")
    def invite(self, obj):
        return format_html('<a href="{}" class="invite-marketer">Invite a marketer to this workspace</a>',
                           reverse("admin:integrations_workspace_invite", args=[obj.pk]))

    list_display = [*list_display, "invite"]

    def get_urls(self):
        return [
            path("<int:workspace_id>/invite/", self.admin_site.admin_view(self.invite_view),
                 name="integrations_workspace_invite"),
            *super().get_urls(),
        ]

    def invite_view(self, request, workspace_id: int):
        """Make a marketer of this workspace from an email; show the one-time link to send them."""
        if not self.has_change_permission(request):
            raise Http404("No such workspace.")
        workspace = get_object_or_404(Workspace, pk=workspace_id)
        link, email = "", request.POST.get("email", "")
        if request.method == "POST":
            try:
                user, created = services.marketer_invite(workspace=workspace, email=email)
            except services.InvalidMarketer as exc:
                messages.error(request, str(exc))
            else:
                link = request.build_absolute_uri(services.marketer_sign_in_path(user))
                messages.success(request, f"{user.email} is {'now a marketer of' if created else 'added to'} {workspace}. "
                                          "Send them the link below: it lets them set a password once.")
        return TemplateResponse(request, "admin/integrations/workspace/invite.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "workspace": workspace,
            "title": f"Invite a marketer to {workspace}", "link": link, "email": email,
        })


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
    member_can_change = True
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
        for connection in PinterestConnection.objects.filter(ad_accounts__in=queryset).distinct():
            chosen = set(queryset.filter(connection=connection).values_list("pinterest_id", flat=True))
            current = set(connection.ad_accounts.filter(enabled=True).values_list("pinterest_id", flat=True))
            services.ad_accounts_enable(connection=connection, enabled_ids=current | chosen if enabled else current - chosen)
        verb = "may now use" if enabled else "no longer uses"
        self.message_user(request, f"The workspace {verb} {queryset.count()} ad account(s).", messages.SUCCESS)

    @admin.action(description="Let the workspace use the selected ad accounts")
    def enable(self, request, queryset):
        self._set_enabled(request, queryset, True)

    @admin.action(description="Stop using the selected ad accounts")
    def disable(self, request, queryset):
        self._set_enabled(request, queryset, False)


@admin.register(ApiKey)
class ApiKeyAdmin(WorkspaceScopedAdmin):
    """Keys are created here (the plaintext is shown once) and revoked; never edited or shown again."""

    member_can_add = True
    list_display = ["prefix", "name", "workspace", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["workspace", "name"]
        return ["prefix", "name", "workspace", "created_at", "created_by", "last_used_at", "revoked_at"]

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
        from integrations.api_keys import api_key_create

        created, plaintext = api_key_create(workspace=obj.workspace, name=obj.name, created_by=request.user)
        adopt(obj, created)
        self.message_user(
            request,
            f"Your new API key is {plaintext} — copy it now: it is shown only once and cannot be recovered.",
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request, queryset):
        from integrations.api_keys import api_key_revoke

        for api_key in queryset:
            api_key_revoke(api_key=api_key)
        self.message_user(request, f"Revoked {queryset.count()} API key(s); they stop working at once.", messages.SUCCESS)


def adopt(obj, created) -> None:
    """Make the admin's unsaved `obj` stand for the row a service created, so the admin's redirects work."""
    for f in type(created)._meta.concrete_fields:
        setattr(obj, f.attname, getattr(created, f.attname))
    obj._state.adding = False
    obj._state.db = created._state.db
