"""Thin django-q2 entry points of the integrations app: each takes ids and calls one function."""

from __future__ import annotations

from integrations.accounts import password_reset_mail_send


def password_reset_mail(user_id: int, email: str, base_url: str) -> bool:
    return password_reset_mail_send(user_id=user_id, email=email, base_url=base_url)
