"""The admin for workspaces and their members, and what every workspace-scoped admin page builds on.

Marketers are staff users without Django model permissions: what they may
see is decided by workspace membership (WorkspaceScopedAdmin). Every query
is scoped to the marketer's workspaces, and another workspace's object
answers 404, never "perhaps it was deleted". Writes go through services.
"""

from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django import forms
from django.contrib import admin, messages
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from integrations import admin_mfa, roles
from integrations.admin_links import ReadOnlyLinksByPermission
from integrations.models import AdAccount, Membership, Workspace
from integrations.roles import Action
from integrations.services.workspaces import (InvalidMarketer, InvalidMembership, InvalidWorkspace,
                                              invitation_expires_at, invitation_valid_for, marketer_invite,
                                              marketer_sign_in_path, membership_remove, membership_set_role,
                                              workspace_add_member, workspace_check, workspace_create,
                                              workspace_update)

# Staff sign in through allauth (/accounts/login/), like everyone else.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Pinterest Audience Sync"
admin.site.site_title = "Pinterest Audience Sync"
admin.site.index_title = "Canvases and Pinterest"
# No navigation sidebar: the home page lists the same links, and at 1280 px the sidebar took the width the
# lists of records, send logs and audit events need for their columns.
admin.site.enable_nav_sidebar = False
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


class WorkspaceScopedAdmin(ReadOnlyLinksByPermission, admin.ModelAdmin):
    """A ModelAdmin whose rows belong to a workspace through `workspace_path`.

    Superusers keep Django's permissions and see everything. A staff member
    of a workspace sees the rows of their workspaces only, and may view, add,
    change and delete them where their role there allows the action named in
    `view_action`, `add_action`, `change_action`, `delete_action`
    (integrations.roles; None: members never do it here). Without a right
    the admin offers no button or link for it, and answers 403 if asked.
    """

    workspace_path = "workspace"
    view_action: Action | None = Action.VIEW
    add_action: Action | None = None
    change_action: Action | None = None
    delete_action: Action | None = None

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        visible = workspace_ids(request)
        if self.view_action is not None and self.view_action != Action.VIEW and not getattr(request, "_any_role", 0):
            # Rows only some roles may see (API keys, alert settings): only the workspaces where the role may.
            visible = visible & roles.workspace_ids_where(request.user, self.view_action)
        return qs.filter(**{f"{self.workspace_path}__in": visible})

    def get_object(self, request, object_id, from_field=None):
        # Every row of the member's workspaces, even one their role may not see: the admin then
        # answers 403 for it (has_view_permission), and 404 only for another workspace's.
        request._any_role = True
        try:
            obj = super().get_object(request, object_id, from_field)
        finally:
            del request._any_role
        if obj is None:
            # Another workspace's object and a missing one look the same.
            raise Http404("No such object.")
        return obj

    def _is_member(self, request) -> bool:
        return bool(workspace_ids(request))

    def workspace_id_of(self, obj) -> int:
        *path, last = self.workspace_path.split("__")
        for name in path:
            obj = getattr(obj, name)
        return getattr(obj, f"{last}_id")

    def member_may(self, request, action: Action | None, obj=None) -> bool:
        """Whether the signed-in member's role allows `action` on `obj` (None: in any of their workspaces)."""
        if action is None or not self._is_member(request):
            return False
        if obj is None:
            return any(roles.can(request.user, pk, action) for pk in workspace_ids(request))
        return roles.can(request.user, self.workspace_id_of(obj), action)

    def require(self, request, action: Action, obj) -> None:
        """403 (roles.Forbidden) unless the user may do `action` on `obj`; superusers may."""
        if not request.user.is_superuser:
            roles.require(request.user, self.workspace_id_of(obj), action)

    def has_module_permission(self, request):
        return request.user.is_superuser or self.member_may(request, self.view_action)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self.member_may(request, self.view_action, obj)

    def has_add_permission(self, request):
        return super().has_add_permission(request) or self.member_may(request, self.add_action)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or self.member_may(request, self.change_action, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) or self.member_may(request, self.delete_action, obj)

    def changelist_view(self, request, extra_context=None):
        # What the list's own buttons may offer (Upload a list, Erase a user, ...).
        may = roles.rights_anywhere(request.user)
        return super().changelist_view(request, {"may": may, **(extra_context or {})})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "workspace" and self.add_action is not None and not request.user.is_superuser:
            # A new row goes only where the member's role lets them add it.
            kwargs["queryset"] = roles.workspaces_where(request.user, self.add_action).filter(
                pk__in=workspace_ids(request))
            return super().formfield_for_foreignkey(db_field, request, **kwargs)
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


def manages_members(request, workspace=None) -> bool:
    """Whether the signed-in user may invite members and change roles (of `workspace`, or of any)."""
    if request.user.is_superuser:
        return True
    if workspace is None:
        return any(roles.can(request.user, pk, Action.MEMBERS_MANAGE) for pk in workspace_ids(request))
    return workspace.pk in workspace_ids(request) and roles.can(request.user, workspace, Action.MEMBERS_MANAGE)


class MembershipInline(admin.TabularInline):
    """Members and their roles. Workspace admins change roles and remove members; they add them by invitation."""

    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role"]

    def get_readonly_fields(self, request, obj=None):
        # The user picker lists every account of the service: superusers only.
        return [] if request.user.is_superuser else ["user"]

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return manages_members(request, obj)

    def has_change_permission(self, request, obj=None):
        return manages_members(request, obj)

    def has_delete_permission(self, request, obj=None):
        return manages_members(request, obj)


@admin.register(Workspace)
class WorkspaceAdmin(ReadOnlyLinksByPermission, admin.ModelAdmin):
    # Superusers create and delete workspaces; a workspace admin sees theirs here to manage its members.
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

    # Whether members must use two-factor authentication is changed on its own page, through
    # services.workspaces.workspace_require_mfa (which records it in the audit log), never by this form.
    exclude = ["require_mfa"]

    @admin.display(description="Two-factor authentication")
    def mfa_page(self, obj):
        return format_html('<a href="{}" class="workspace-mfa">{}</a>',
                           reverse("admin:integrations_workspace_mfa", args=[obj.pk]),
                           "Required" if obj.require_mfa else "Not required")

    list_display = [*list_display, "mfa_page"]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(pk__in=roles.workspace_ids_where(request.user, Action.MEMBERS_MANAGE) & workspace_ids(request))

    def has_module_permission(self, request):
        return super().has_module_permission(request) or manages_members(request)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or manages_members(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or manages_members(request, obj)

    def get_readonly_fields(self, request, obj=None):
        # A workspace admin manages the members; the workspace's slug and name stay as staff set them.
        return [] if request.user.is_superuser else ["slug", "name", "created_at"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class CheckedWorkspaceForm(form):
            def clean(self):
                data = super().clean()
                if "slug" in data and "name" in data:
                    try:
                        workspace_check(slug=data["slug"], name=data["name"])
                    except InvalidWorkspace as exc:
                        raise forms.ValidationError(str(exc)) from None
                return data

        return CheckedWorkspaceForm

    def save_model(self, request, obj, form, change):
        """Through the services, which check the slug and name (staff only: members change below)."""
        if not request.user.is_superuser:
            return
        if change:
            adopt(obj, workspace_update(workspace=obj, slug=obj.slug, name=obj.name))
        else:
            adopt(obj, workspace_create(slug=obj.slug, name=obj.name))

    def save_formset(self, request, form, formset, change):
        """Members change through the services, which keep one admin per workspace and record it."""
        if formset.model is not Membership:
            return super().save_formset(request, form, formset, change)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        workspace = form.instance
        try:
            for inline_form in formset.deleted_forms:
                if inline_form.instance.pk:
                    membership_remove(membership=inline_form.instance)
                    formset.deleted_objects.append(inline_form.instance)
            for inline_form in formset.forms:
                if inline_form in formset.deleted_forms or not inline_form.has_changed():
                    continue
                data = inline_form.cleaned_data
                if inline_form.instance.pk:
                    membership = membership_set_role(membership=inline_form.instance, role=data["role"])
                    formset.changed_objects.append((membership, inline_form.changed_data))
                else:
                    membership = workspace_add_member(workspace=workspace, user=data["user"],
                                                               role=data["role"])
                    formset.new_objects.append(membership)
        except InvalidMembership as exc:
            messages.error(request, str(exc))

    def get_urls(self):
        return [
            path("<int:workspace_id>/invite/", self.admin_site.admin_view(self.invite_view),
                 name="integrations_workspace_invite"),
            path("<int:workspace_id>/two-factor/",
                 self.admin_site.admin_view(lambda request, workspace_id: admin_mfa.workspace_mfa_view(
                     request, workspace_id, admin_site=self.admin_site)),
                 name="integrations_workspace_mfa"),
            *super().get_urls(),
        ]

    def invite_view(self, request, workspace_id: int):
        """Make a member of this workspace from an email, with a role; show the one-time link to send them."""
        workspace = get_object_or_404(user_workspaces(request), pk=workspace_id)  # another's: 404
        if not manages_members(request, workspace):
            raise roles.Forbidden("Only a workspace admin invites members.")
        link, email, invited, expires_at = "", request.POST.get("email", ""), None, None
        role = request.POST.get("role") or Membership.Role.MARKETER
        if request.method == "POST":
            try:
                if role not in Membership.Role.values:
                    raise InvalidMarketer("Choose a role: workspace admin, marketer or viewer.")
                user, created = marketer_invite(workspace=workspace, email=email, role=role)
            except (InvalidMarketer, InvalidMembership) as exc:
                messages.error(request, str(exc))
            else:
                link = request.build_absolute_uri(marketer_sign_in_path(user, workspace=workspace))
                expires_at = invitation_expires_at()
                invited = user
                label = Membership.Role(role).label.lower()
                messages.success(request, f"Invited {user.email} to {workspace} as {label}." if created else
                                 f"Added {user.email} to {workspace} as {label}: they keep their password, and the "
                                 "link below lets them choose a new one.")
        return TemplateResponse(request, "admin/integrations/workspace/invite.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "workspace": workspace,
            "title": f"Invite a member to {workspace}", "link": link, "email": email,
            "roles": Membership.Role.choices, "role": role, "invited": invited, "expires_at": expires_at,
            "valid_for": invitation_valid_for(),
        })


def adopt(obj, created) -> None:
    """Make the admin's unsaved `obj` stand for the row a service created, so the admin's redirects work."""
    for f in type(created)._meta.concrete_fields:
        setattr(obj, f.attname, getattr(created, f.attname))
    obj._state.adding = False
    obj._state.db = created._state.db
