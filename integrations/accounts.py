"""Sign-in for staff and marketers (django-allauth), with sign-up closed.

Accounts are made by staff: superusers in the admin, or
`integrations.services.user_create_marketer`. Nobody can create one from
the sign-in pages, so nobody can learn from a sign-up form which emails
belong to staff.
"""

import logging

from allauth.account.adapter import DefaultAccountAdapter

logger = logging.getLogger(__name__)


class StaffOnlyAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False

    def send_password_reset_mail(self, user, email, context) -> None:
        # Sent by a task, not here: the page then answers the same, at once, for an address with an account
        # and one without, whatever the mail server does (a refused connection was a 500 for known addresses
        # only). The queue carries the user's id and the address, never the reset link: the task makes it.
        from django.db import transaction
        from django_q.tasks import async_task

        base_url = context["request"].build_absolute_uri("/")
        transaction.on_commit(lambda: async_task("integrations.tasks.password_reset_mail", user.pk, email, base_url))


def password_reset_mail_send(*, user_id: int, email: str, base_url: str) -> bool:
    """Mail a fresh password-reset link to an active user at one of their addresses. Returns whether it was sent.

    A mail server that fails is logged (by user id) and reported as False; it
    never raises, so a task runs once and the reset page never shows it.
    """
    from urllib.parse import quote, urljoin, urlsplit

    from allauth.account import app_settings
    from allauth.account.models import EmailAddress
    from allauth.account.utils import user_pk_to_url_str, user_username
    from django.contrib.auth import get_user_model
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.urls import reverse

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not (email.lower() == (user.email or "").lower()
                            or EmailAddress.objects.filter(user=user, email__iexact=email).exists()):
        return False
    key = f"{user_pk_to_url_str(user)}-{app_settings.PASSWORD_RESET_TOKEN_GENERATOR().make_token(user)}"
    path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
    host = urlsplit(base_url).netloc
    context = {"user": user, "email": email, "username": user_username(user),
               "password_reset_url": urljoin(base_url, path.replace("UID-KEY", quote(key))),
               "current_site": {"name": host, "domain": host}}
    subject = " ".join(render_to_string("account/email/password_reset_key_subject.txt", context).splitlines())
    body = render_to_string("account/email/password_reset_key_message.txt", context)
    try:
        send_mail(f"[{host}] {subject.strip()}", body, None, [email])
    except Exception as exc:  # noqa: BLE001 - whatever the mail server does, the person asking sees the same page
        # The exception's text may hold the address: only its kind is logged.
        logger.warning("the password-reset mail to user %s could not be sent (%s)", user_id, type(exc).__name__)
        return False
    return True
