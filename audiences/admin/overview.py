"""The marketer's overview page: which canvases need attention, and each step's figures with links to their detail.

A view of CanvasAdmin (mixed in here), scoped like its list: a member sees
the canvases of their workspaces. Read-only; every figure comes from
audiences.services.overview, which reads counts only. The figures are
formatted here, once, so the template only prints them: with hundreds of
canvases, a template tag per figure (a URL reversed, a number localised)
would cost more than reading the counts.
"""

from __future__ import annotations

from datetime import datetime
from html import escape as esc

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from audiences.models import Step
from audiences.services.overview import IDLE, OK, PROBLEM, WARNING, CanvasHealth, StepFigures, canvases_overview
from integrations.admin import user_workspaces
from integrations.models import Membership
from integrations.services.alert_preferences import membership_alerts_set

MARK_WORDS = {PROBLEM: "Needs attention", WARNING: "Check", OK: "Healthy", IDLE: "Not live"}


def moment(value: datetime | None, *, year: bool = True) -> str:
    """One date format on the marketer's pages, with its time zone: "7 Dec 2026, 09:30 UTC"."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%-d %b %Y, %H:%M %Z" if year else "%-d %b, %H:%M %Z")


class UrlPattern:
    """A URL reversed once with a stand-in id, then filled per object (reversing per figure is slow)."""

    def __init__(self, name: str):
        self.prefix, self.suffix = reverse(name, args=[999999999]).split("999999999")

    def __call__(self, pk: int) -> str:
        return f"{self.prefix}{pk}{self.suffix}"


def step_row(f: StepFigures, analytics: UrlPattern) -> dict:
    step = f.step
    row = {"name": str(step), "url": analytics(step.pk), "sync": step.kind == Step.Kind.AUDIENCE_SYNC,
           "entered": f"{f.total.get('entered', 0):,}"}
    if not row["sync"]:
        row["kind"] = step.get_kind_display()
        row["waiting"] = f"{f.total.get('waiting', 0):,}"
        return row
    audience = step.audience
    row.update({
        "kind": f"{'Removes from' if step.action == Step.Action.REMOVE else 'Adds to'} {audience or 'no audience yet'}",
        "synced": f"{f.total['synced']:,}", "not_synced": f"{f.total['not_synced']:,}",
        "pending": f"{f.total['pending']:,}", "errored": f"{f.total['errored']:,}",
        "errored_any": bool(f.total["errored"]),
        "entered_today": f"{f.today['entered']:,}", "synced_today": f"{f.today['synced']:,}",
        "errored_today": f"{f.today['errored']:,}",
        "last_request": moment(f.last_request_at),
        "last_failed": f.last_request_outcome not in ("", "ok"),
        "last_outcome": f.last_request_outcome,
        "audience": bool(audience),
        "size": f"{f.audience_size:,}" if f.audience_size is not None else "not known yet",
        "measured": f"read {moment(f.audience_measured_at, year=False)}" if f.audience_measured_at else "not read yet",
    })
    return row


def card(health: CanvasHealth, canvas_url: UrlPattern, analytics: UrlPattern) -> dict:
    canvas = health.canvas
    return {"pk": canvas.pk, "name": canvas.name, "url": canvas_url(canvas.pk), "status": canvas.status,
            "status_words": canvas.get_status_display(), "workspace": str(canvas.workspace), "mark": health.mark,
            "mark_words": MARK_WORDS[health.mark], "reasons": health.reasons,
            "steps": [step_row(f, analytics) for f in health.steps]}


def _step_html(s: dict) -> str:
    e = esc
    head = f'<th scope="row"><a href="{e(s["url"])}">{e(s["name"])}</a> <span class="muted">{e(s["kind"])}</span></th>'
    if not s["sync"]:
        return (f'<tr>{head}<td data-label="Entered">{e(s["entered"])}</td><td colspan="6" data-label="Waiting" '
                f'class="muted">{e(s["waiting"])} waiting</td></tr>')
    url = e(s["url"])
    if s["last_request"]:
        failed = f' <span class="error-text">({e(s["last_outcome"])})</span>' if s["last_failed"] else ""
        last = f"{e(s['last_request'])}{failed}"
    else:
        last = '<span class="muted">none yet</span>'
    size = (f'<a href="{url}#audience-status">{e(s["size"])}</a> <span class="muted">{e(s["measured"])}</span>'
            if s["audience"] else '<span class="muted">no audience</span>')
    errored_class = ' class="error-text"' if s["errored_any"] else ""
    return (
        f'<tr>{head}'
        f'<td data-label="Entered"><a href="{url}#step-numbers">{e(s["entered"])}</a> '
        f'<span class="today">{e(s["entered_today"])} today</span></td>'
        f'<td data-label="Synced"><a href="{url}#number-synced">{e(s["synced"])}</a> '
        f'<span class="today">{e(s["synced_today"])} today</span></td>'
        f'<td data-label="Not synced"><a href="{url}#number-not_synced">{e(s["not_synced"])}</a></td>'
        f'<td data-label="Pending"><a href="{url}#number-pending">{e(s["pending"])}</a></td>'
        f'<td data-label="Errored"{errored_class}><a href="{url}#errored-users">{e(s["errored"])}</a> '
        f'<span class="today">{e(s["errored_today"])} today</span></td>'
        f'<td data-label="Last request">{last}</td><td data-label="Size on Pinterest">{size}</td></tr>')


def card_html(c: dict, *, several_workspaces: bool) -> str:
    """One canvas's card, escaped here (stdlib html.escape): with hundreds of canvases a template loop, or
    Django's lazy-aware format_html per figure, costs more than reading the counts."""
    e = esc
    reasons = ('<ul class="health-reasons">' + "".join(f"<li>{e(r)}</li>" for r in c["reasons"]) + "</ul>"
               if c["reasons"] else "")
    if c["steps"]:
        steps = ('<table class="overview-steps"><thead><tr><th>Step</th><th>Entered</th><th>Synced</th>'
                 '<th>Not synced</th><th>Pending</th><th>Errored</th><th>Last request to Pinterest</th>'
                 '<th>Size on Pinterest</th></tr></thead><tbody>'
                 + "".join(_step_html(s) for s in c["steps"]) + "</tbody></table>")
    else:
        steps = '<p class="muted">No steps yet.</p>'
    workspace = f' <span class="muted">{e(c["workspace"])}</span>' if several_workspaces else ""
    mark = e(c["mark"])
    return mark_safe(  # noqa: S308 - every value above went through html.escape
        f'<section class="overview-canvas {mark}" id="canvas-{int(c["pk"])}" data-mark="{mark}"><header>'
        f'<span class="health-mark {mark}">{e(c["mark_words"])}</span><h2><a href="{e(c["url"])}">{e(c["name"])}</a></h2>'
        f'<span class="canvas-status {e(c["status"])}">{e(c["status_words"])}</span>{workspace}</header>'
        f"{reasons}{steps}</section>")


class OverviewPages:
    """The overview view of CanvasAdmin (which provides _context), and a member's own alert emails switch."""

    def alerts_mine_view(self, request):
        """POST on=yes|no: the signed-in member's alert emails, in one of their workspaces (their own choice)."""
        if request.method == "POST":
            membership = Membership.objects.filter(user=request.user, workspace_id=request.POST.get("workspace")
                                                   if (request.POST.get("workspace") or "").isdigit() else None).first()
            if membership is not None:
                on = request.POST.get("on") == "yes"
                membership_alerts_set(membership=membership, on=on)
                messages.success(request, f"Alert emails for you in {membership.workspace}: {'on' if on else 'off'}.")
        return HttpResponseRedirect(reverse("admin:audiences_canvas_overview") + "#alerts-mine")

    def overview_view(self, request):
        canvases = canvases_overview(user_workspaces(request))
        canvas_url = UrlPattern("admin:audiences_canvas_change")
        analytics = UrlPattern("admin:audiences_step_analytics")
        several = len({c.canvas.workspace_id for c in canvases}) > 1
        return TemplateResponse(request, "audiences/overview.html", self._context(
            request,
            title="Overview",
            cards=[card_html(card(health, canvas_url, analytics), several_workspaces=several) for health in canvases],
            total=len(canvases),
            attention=sum(1 for c in canvases if c.needs_attention),
            memberships=Membership.objects.filter(user=request.user).select_related("workspace").order_by("workspace__name"),
        ))
