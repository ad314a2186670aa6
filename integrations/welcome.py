"""The welcome page an invitation's one-time link opens: the new member chooses a password and is signed in.

The link (services.workspaces.marketer_sign_in_path) carries allauth's
password-reset key; like allauth's own reset page, this page keeps the key
in the session and answers it at once with a redirect to a URL without it,
so the key does not linger in the address bar or reach another page in a
Referer header. A link expired, used or not an invitation gets one plain
page saying so, never an error.
"""

from __future__ import annotations

from allauth.account.forms import ResetPasswordKeyForm
from allauth.account.utils import perform_login
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from integrations.models import Membership
from integrations.services.workspaces import (
    invitation_accept,
    invitation_open,
    invitation_valid_for,
)

# Where the key waits between the link and the form (the URL then says this instead of the key).
SESSION_KEY = "welcome_key"
KEY_IN_SESSION = "set-password"

ROLE_SENTENCES = {
    Membership.Role.ADMIN: "As a workspace admin you hold its Pinterest connection, API keys, alerts and members, "
                           "and build and run its canvases.",
    Membership.Role.MARKETER: "As a marketer you build and run its canvases, which keep Pinterest audiences in step "
                              "with your customer journeys.",
    Membership.Role.VIEWER: "As a viewer you read its canvases, their figures and what was sent to Pinterest.",
}


class WelcomePasswordForm(ResetPasswordKeyForm):
    """allauth's set-password form (its password validators), worded for a first password."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in (("password1", "Choose a password"), ("password2", "The same password again")):
            self.fields[name].label = label
            self.fields[name].widget.attrs["placeholder"] = ""


@never_cache
@sensitive_post_parameters("password1", "password2")
def welcome(request, workspace_id: int, uidb36: str, key: str):
    if key != KEY_IN_SESSION:
        # Checked before it is kept: a bad key is refused here, and no session is made for it.
        if invitation_open(workspace_id=workspace_id, uidb36=uidb36, key=key) is None:
            return _refused(request)
        request.session[SESSION_KEY] = key
        return redirect(reverse("welcome", kwargs={"workspace_id": workspace_id, "uidb36": uidb36,
                                                   "key": KEY_IN_SESSION}))
    key = request.session.get(SESSION_KEY, "")
    membership = invitation_open(workspace_id=workspace_id, uidb36=uidb36, key=key)
    if membership is None:
        return _refused(request)
    user = membership.user
    if request.user.is_authenticated and request.user.pk != user.pk:
        # Someone else is signed in on this browser: the invitation is not theirs (allauth does the same).
        logout(request)
        request.session[SESSION_KEY] = key
    form = WelcomePasswordForm(request.POST or None, user=user, temp_key=key)
    if request.method == "POST" and form.is_valid():
        invitation_accept(membership=membership, password=form.cleaned_data["password1"])
        request.session.pop(SESSION_KEY, None)
        # allauth's sign-in, so its stages run: a member who already has an authenticator app is asked for a
        # code, and a workspace that requires one sends the member to set it up (integrations.mfa). It says
        # "Successfully signed in as …" itself.
        return perform_login(request, user, redirect_url=reverse("admin:index"))
    return TemplateResponse(request, "account/welcome.html", {
        "form": form, "membership": membership, "workspace": membership.workspace,
        "role": Membership.Role(membership.role).label.lower(),
        "role_sentence": ROLE_SENTENCES[membership.role], "invited": user,
    })


def _refused(request):
    return TemplateResponse(request, "account/welcome_refused.html", {"valid_for": invitation_valid_for()})
