"""A workspace with a dozen canvases in every state a marketer meets, for the overview's tests."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.utils import timezone

from audiences import services
from audiences.sending.pump import send_due_now
from tests.conftest import make_users


def sync_canvas(workspace, ad_account, name: str, *, audience: str | None = None, launch: bool = True):
    canvas = services.canvas_create(workspace=workspace, name=name)
    target = services.audience_create_draft(workspace=workspace, ad_account=ad_account, name=audience or f"{name} audience")
    services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=target, name=f"Add to {name}")
    if launch:
        services.canvas_launch(canvas=canvas)
    return canvas


def dozen_canvases(workspace, ad_account) -> dict:
    """Twelve canvases: one with errored users, one too small, one quiet for two days, one draft, eight healthy."""
    now = timezone.now()
    errored = sync_canvas(workspace, ad_account, "Lapsed buyers")
    with time_machine.travel(now - timedelta(hours=14), tick=False):
        services.users_enter(canvas=errored, users=make_users(7, start=1000))
    services.records_error_expired()

    small = sync_canvas(workspace, ad_account, "VIP preview")
    services.users_enter(canvas=small, users=make_users(60, start=2000))

    with time_machine.travel(now - timedelta(days=2), tick=False):
        quiet = sync_canvas(workspace, ad_account, "Winter sale")
    draft = sync_canvas(workspace, ad_account, "Spring ideas", launch=False)
    healthy = []
    for i, name in enumerate(["Welcome series", "Cart abandoners", "Newsletter", "Birthday", "Loyalty tier",
                              "Reactivation", "App installs", "Big spenders"]):
        canvas = sync_canvas(workspace, ad_account, name)
        services.users_enter(canvas=canvas, users=make_users(150, start=3000 + 200 * i))
        healthy.append(canvas)
    send_due_now()
    return {"errored": errored, "small": small, "quiet": quiet, "draft": draft, "healthy": healthy}
