"""Read-only links to related pages, shown only to who may open them.

Django links a read-only foreign key (an audience's workspace, a member's
user) to the related object's admin page whoever looks, and that page may
answer 403 for the person. The pages members see mark their forms with the
request (ReadOnlyLinksByPermission); on those a link is shown only where the
related object's admin lets the person view it, and the object's name
stands alone otherwise. Importing this module installs the check.
"""

from __future__ import annotations

from django.contrib.admin import helpers

_django_readonly_link = helpers.AdminReadonlyField.get_admin_url


def _readonly_link_if_allowed(self, remote_field, remote_obj):
    request = getattr(self.form, "_admin_request", None)
    if request is None:
        return _django_readonly_link(self, remote_field, remote_obj)
    related_admin = self.model_admin.admin_site._registry.get(remote_field.model)
    if related_admin is None or not related_admin.has_view_permission(request, remote_obj):
        return str(remote_obj)
    return _django_readonly_link(self, remote_field, remote_obj)


helpers.AdminReadonlyField.get_admin_url = _readonly_link_if_allowed


class ReadOnlyLinksByPermission:
    """Marks the change form and its inlines' forms with the request, for `_readonly_link_if_allowed`."""

    def render_change_form(self, request, context, *args, **kwargs):
        forms_shown = [context["adminform"].form] if "adminform" in context else []
        for inline in context.get("inline_admin_formsets", []):
            forms_shown.extend(inline.formset.forms)
        for form in forms_shown:
            form._admin_request = request
        return super().render_change_form(request, context, *args, **kwargs)
