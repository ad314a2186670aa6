"""The only writers of workspaces, their members and the marketers' staff users.

Views, admin, API, tasks and commands call these functions; none of them
writes the models directly.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.forms import UserTokenForm
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timeuntil

from integrations.models import Membership, Workspace, validate_workspace_slug
from integrations.signals import audited


class InvalidWorkspace(ValueError):
    """The slug or name cannot be a workspace's; nothing was created."""


WORKSPACE_NAME_MAX_LENGTH = 200


def workspace_create(*, slug: str, name: str = "") -> Workspace:
    """The workspace with this slug, created when there is none (idempotent).

    Raises InvalidWorkspace for a slug that is not a Django slug of 1 to 50
    characters (it is part of the workspace's page URLs) or a name over 200
    characters or with control characters.
    """
    workspace_check(slug=slug, name=name)
    workspace, _ = Workspace.objects.get_or_create(slug=slug, defaults={"name": name.strip() or slug})
    return workspace


def workspace_check(*, slug: str, name: str) -> None:
    """Raise InvalidWorkspace unless `slug` and `name` can be a workspace's (what workspace_create checks)."""
    try:
        validate_workspace_slug(slug)
    except ValidationError as exc:
        raise InvalidWorkspace(f"Invalid workspace slug: {' '.join(exc.messages)}") from None
    if not isinstance(name, str) or len(name) > WORKSPACE_NAME_MAX_LENGTH:
        raise InvalidWorkspace(f"A workspace name is at most {WORKSPACE_NAME_MAX_LENGTH} characters.")
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000 for c in name):
        raise InvalidWorkspace("A workspace name cannot hold control characters.")


def workspace_update(*, workspace: Workspace, slug: str, name: str) -> Workspace:
    """Give the workspace another slug or name (staff only: the slug is part of its pages' URLs).

    Raises InvalidWorkspace, changing nothing, for what workspace_create refuses.
    """
    workspace_check(slug=slug, name=name)
    with transaction.atomic():
        current = Workspace.objects.select_for_update().get(pk=workspace.pk)
        before = {"slug": current.slug, "name": current.name}
        current.slug, current.name = slug, name.strip() or slug
        current.save(update_fields=["slug", "name"])
        after = {"slug": current.slug, "name": current.name}
        if after != before:
            audited.send(sender=Workspace, workspace=current, action="workspace.update", target=current.slug,
                         details={"from": before, "to": after})
    return current


def workspace_require_mfa(*, workspace: Workspace, required: bool) -> bool:
    """Require (or stop requiring) two-factor authentication of every member; whether it changed.

    The caller has checked that the person may (integrations.mfa.may_require_mfa).
    A change is recorded in the audit log; setting the value it already has
    changes nothing and records nothing.
    """
    required = bool(required)
    with transaction.atomic():
        changed = Workspace.objects.filter(pk=workspace.pk).exclude(require_mfa=required).update(require_mfa=required)
        workspace.require_mfa = required
        if changed:
            audited.send(sender=Workspace, workspace=workspace,
                         action="workspace.require_mfa" if required else "workspace.stop_requiring_mfa",
                         target=workspace.slug, details={"require_mfa": required})
    return bool(changed)


class InvalidMembership(ValueError):
    """The change would leave the workspace without what it needs (or names no role); nothing was changed."""


def _checked_role(role: str) -> str:
    if role not in Membership.Role.values:
        raise InvalidMembership(f"A role is one of: {', '.join(Membership.Role.values)}.")
    return role


def workspace_add_member(*, workspace: Workspace, user, role: str = Membership.Role.MARKETER) -> Membership:
    """The user's membership of the workspace, with this role (a member already there takes the new role)."""
    _checked_role(role)
    with transaction.atomic():
        existing = Membership.objects.select_for_update().filter(workspace=workspace, user=user).first()
        if existing is not None:
            return membership_set_role(membership=existing, role=role)
        membership = Membership.objects.create(workspace=workspace, user=user, role=role)
        audited.send(sender=Membership, workspace=workspace, action="member.add", target=str(user),
                     details={"role": role})
    return membership


def _admins_left(membership: Membership) -> int:
    return Membership.objects.filter(workspace_id=membership.workspace_id, role=Membership.Role.ADMIN).exclude(
        pk=membership.pk).count()


def membership_set_role(*, membership: Membership, role: str) -> Membership:
    """Give the member another role. The workspace's last admin stays an admin (someone must hold it)."""
    _checked_role(role)
    with transaction.atomic():
        current = Membership.objects.select_for_update().get(pk=membership.pk)
        if current.role == role:
            return current
        if current.role == Membership.Role.ADMIN and not _admins_left(current):
            raise InvalidMembership(f"{current.user} is the workspace's only admin: make another member an admin "
                                    "first.")
        before, current.role = current.role, role
        current.save(update_fields=["role"])
        audited.send(sender=Membership, workspace=current.workspace_id, action="member.role",
                     target=str(current.user), details={"from": before, "to": role})
    return current


def membership_remove(*, membership: Membership) -> None:
    """Take the member out of the workspace. The workspace's last admin stays."""
    with transaction.atomic():
        current = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if current is None:
            return
        if current.role == Membership.Role.ADMIN and not _admins_left(current):
            raise InvalidMembership(f"{current.user} is the workspace's only admin: make another member an admin "
                                    "first.")
        current.delete()
        audited.send(sender=Membership, workspace=current.workspace_id, action="member.remove",
                     target=str(current.user), details={"role": current.role})


def user_create_marketer(*, workspace: Workspace, username: str, password: str, email: str = "",
                         role: str = Membership.Role.MARKETER) -> object:
    """A staff user who can sign in to the admin and sees only this workspace, with this role in it."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"email": email, "is_staff": True})
    if created:
        user.set_password(password)
        user.save()
    workspace_add_member(workspace=workspace, user=user, role=role)
    return user


class InvalidMarketer(ValueError):
    """The email cannot name a marketer: nothing was created."""


def marketer_invite(*, workspace: Workspace, email: str,
                    role: str = Membership.Role.MARKETER) -> tuple[object, bool]:
    """A staff user for `email` who sees only this workspace (with `role` in it), and whether it was created now.

    A new user has no password: they set one through the link of
    `marketer_sign_in_path`. An existing user keeps theirs and joins the
    workspace. Superusers are refused: they see every workspace already.
    """
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidMarketer(f"“{email[:100]}” is not an email address.") from None
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).order_by("pk").first()
        created = user is None
        if created:
            username = email.lower()[:150]
            if User.objects.filter(username__iexact=username).exists():
                raise InvalidMarketer(f"A user named “{username}” exists with another email; use that email.")
            user = User(username=username, email=email.lower(), is_staff=True)
            user.set_unusable_password()
            user.save()
        elif user.is_superuser:
            raise InvalidMarketer(f"{email} is a superuser and sees every workspace already.")
        elif not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        workspace_add_member(workspace=workspace, user=user, role=role)
    return user, created


def marketer_sign_in_path(user, *, workspace: Workspace) -> str:
    """The path of the one-time welcome link where `user` joins `workspace`: they choose a password and are signed in.

    Its key is allauth's password-reset key (Django's token): it stops
    working once used (the password changes) and after
    settings.PASSWORD_RESET_TIMEOUT (`invitation_expires_at`).
    """
    key = allauth_settings.PASSWORD_RESET_TOKEN_GENERATOR().make_token(user)
    return reverse("welcome", kwargs={"workspace_id": workspace.pk, "uidb36": user_pk_to_url_str(user), "key": key})


def invitation_expires_at(made_at: datetime | None = None) -> datetime:
    """When a link of `marketer_sign_in_path` made at `made_at` (default now) stops working.

    Django's token carries the second it was made and is refused once
    PASSWORD_RESET_TIMEOUT seconds have passed.
    """
    made_at = (made_at or timezone.now()).replace(microsecond=0)
    return made_at + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)


def invitation_valid_for() -> str:
    """How long an invitation's link works, in words ("3 days")."""
    now = timezone.now()
    return timeuntil(now + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT), now)


def invitation_open(*, workspace_id: int, uidb36: str, key: str) -> Membership | None:
    """The membership a welcome link invites to, or None when the link is expired, used or not one.

    allauth's own check of the key (UserTokenForm: the user and Django's
    token, which changes with the password and the last sign-in), then the
    membership: a member since removed holds no invitation.
    """
    token = UserTokenForm(data={"uidb36": uidb36, "key": key})
    if not token.is_valid():
        return None
    return (Membership.objects.select_related("workspace", "user")
            .filter(workspace_id=workspace_id, user=token.reset_user, user__is_active=True).first())


def invitation_accept(*, membership: Membership, password: str) -> None:
    """The invited member's password is now `password` (checked by the caller's form); this ends the link."""
    with transaction.atomic():
        get_account_adapter().set_password(membership.user, password)
        audited.send(sender=Membership, workspace=membership.workspace, action="member.join",
                     target=str(membership.user), details={"role": membership.role})
