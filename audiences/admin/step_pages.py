"""The step pages a marketer works in: the Audience Sync step editor, its audience search, the analytics.

They are views of CanvasAdmin (mixed in here), so they share its scoping: a
step of another workspace answers 404. Every write calls audiences.services.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.http import HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from audiences import metrics, services
from audiences.admin import figures
from audiences.admin.chart import hourly_chart
from audiences.admin.connection import page_problems
from audiences.forms import ActalikeForm, AudienceSyncStepForm
from audiences.models import Audience, Canvas, Step, SyncRecord
from audiences.services import error_groups, refresh, sizes
from integrations import roles
from integrations.admin import scoped_choices
from integrations.models import AdAccount
from integrations.roles import Action

# What a call to Pinterest or a service may raise that the marketer should read.
SHOWN_ERRORS = (services.ServiceError, services.PinterestProblem)

# The audience search's query: a row id of at most 18 digits (under 2**63), and
# Pinterest's own opaque bookmark (visible ASCII, as the API takes it).
AD_ACCOUNT_PK = re.compile(r"[0-9]{1,18}")
SEARCH_BOOKMARK = re.compile(r"[!-~]{1,2000}")

NUMBERS = [
    ("entered", "Entered"),
    ("proceeded", "Proceeded to Next Step"),
    ("synced", "Users Synced"),
    ("not_synced", "Users Not Synced"),
    ("pending", "Users Pending"),
    ("errored", "Users Errored"),
    ("exited", "Exited Canvas"),
]

# The page's own words where metrics.EXPLANATIONS is not true for every cause
# or does not say how the numbers relate (Exited counts users still pending).
HELP = {
    **metrics.EXPLANATIONS,
    "errored": "Users Pinterest refused for good (for example, an ad account it no longer finds), or who could not be "
               "sent within 13 hours of retries. The list below gives each one's cause; they can be retried.",
    "exited": "Users who finished the canvas at this step. A user leaves the canvas on reaching its last step, even "
              "while still pending for Pinterest: sending goes on.",
    "proceeded": "Users who went on to the next step; sending them to Pinterest goes on meanwhile.",
}


def _refuse_name_taken_on_pinterest(ad_account: AdAccount, name: str) -> None:
    """Refuse a new audience whose name the ad account already has on Pinterest (not only in this service).

    Pinterest itself accepts two audiences with one name; a marketer then cannot
    tell them apart in Ads Manager, so the editor asks to pick the existing one.
    Read before any transaction opens (the step editor's save opens none).
    """
    if not name:
        return
    bookmark = None
    for _ in range(4):  # the search reads up to 4 x 250 audiences per call: enough for any real ad account
        page = services.pinterest_audiences_search(ad_account=ad_account, search=name, bookmark=bookmark)
        for item in page.items:
            if item.name.strip().lower() == name.lower():
                raise services.ServiceError(
                    f"Pinterest already has an audience named “{item.name}” in this ad account (id {item.id}). "
                    "Pick it from the search results to sync into it, or choose another name."
                )
        bookmark = page.next_bookmark
        if not bookmark:
            return


def canvas_workspace(step: Step):
    return step.canvas.workspace


def workspace_audiences(workspace, ad_account: AdAccount, query: str, *, limit: int = 20) -> list[dict]:
    """The workspace's audiences of this ad account whose name contains the query, as search results."""
    audiences = Audience.objects.filter(workspace=workspace, ad_account=ad_account)
    if query.strip():
        audiences = audiences.filter(name__icontains=query.strip())
    items = []
    for audience in audiences.order_by("name", "pk")[:limit]:
        on_pinterest = bool(audience.pinterest_audience_id)
        items.append({
            "id": audience.pinterest_audience_id, "local": str(audience.pk), "name": audience.name,
            "size": audience.pinterest_size, "status": audience.pinterest_status,
            "note": "" if on_pinterest else "created in this workspace; made on Pinterest with its first users",
        })
    return items


class StepPages:
    """The step views of CanvasAdmin (which provides _step, _canvas_url and _context)."""

    def step_edit_view(self, request, step_id: int):
        step = self._step(request, step_id)
        canvas = step.canvas
        if step.kind != Step.Kind.AUDIENCE_SYNC:
            return HttpResponseRedirect(self._canvas_url(canvas))
        self.require(request, Action.CANVAS_EDIT, canvas)
        locked = canvas.status == Canvas.Status.ACTIVE
        ad_accounts = scoped_choices("ad_account", request).filter(connection__workspace=canvas.workspace)
        initial = AudienceSyncStepForm.initial_for(step)
        if request.method == "POST":
            form = AudienceSyncStepForm(request.POST, initial=initial, ad_accounts=ad_accounts, locked=locked)
            if form.is_valid():
                try:
                    self._step_save(request, step, form, locked)
                except SHOWN_ERRORS as exc:
                    messages.error(request, str(exc))
                else:
                    return HttpResponseRedirect(request.path)
                step.refresh_from_db()
        else:
            form = AudienceSyncStepForm(initial=initial, ad_accounts=ad_accounts, locked=locked)
        return TemplateResponse(request, "audiences/step_editor.html", self._context(
            request,
            title=f"Edit step: {step}",
            canvas=canvas,
            step=step,
            form=form,
            locked=locked,
            search_url=reverse("admin:audiences_step_audience_search", args=[step.pk]),
            analytics_url=reverse("admin:audiences_step_analytics", args=[step.pk]),
            connection_problems=page_problems(canvas.workspace, [step]),
        ))

    def _step_save(self, request, step: Step, form: AudienceSyncStepForm, locked: bool) -> None:
        data = form.cleaned_data
        if locked:
            before = set(step.match_list_types)
            step = services.step_update(step=step, name=data["name"], match_fields=form.match_fields())
            if set(step.match_list_types) != before:
                messages.success(request, "Step saved. The match fields apply to users who reach this step from now "
                                          "on; users already entered keep the identifiers they were sent with.")
            else:
                messages.success(request, "Step saved.")
            return
        ad_account: AdAccount | None = data["ad_account"]
        changes = {
            "name": data["name"],
            "ad_account": ad_account,
            "action": data["action"],
            "match_fields": form.match_fields(),
        }
        typed = (data["audience_name"] or "").strip()
        current = step.audience
        if "_create_audience" in request.POST:
            if ad_account is None:
                raise services.ServiceError("Choose an ad account before creating its audience.")
            taken = Audience.objects.filter(ad_account=ad_account, name__iexact=typed).first()
            if taken is not None:
                raise services.ServiceError(
                    f"This ad account already has an audience named “{taken.name}”: pick it from the search results "
                    "(the workspace's own audiences are listed first) to use it in this step, or choose another name."
                )
            _refuse_name_taken_on_pinterest(ad_account, typed)
            step = services.step_update(step=step, audience=services.AudienceChoice(new_name=typed), **changes)
            audience = step.audience
            messages.success(
                request,
                f"Audience “{audience.name}” created. It is made on Pinterest with the first users who reach this step; "
                "its size shows once about 100 users match, which takes 24–48 hours.",
            )
            return
        if data.get("audience_id"):
            if ad_account is None:
                raise services.ServiceError("Choose an ad account before choosing its audience.")
            picked = Audience.objects.filter(workspace=canvas_workspace(step), ad_account=ad_account,
                                             pk=data["audience_id"]).first()
            if picked is None:
                raise services.ServiceError("That audience is not in this ad account; search again and pick one.")
            step = services.step_update(step=step, audience=services.AudienceChoice(audience_id=picked.pk), **changes)
            messages.success(request, f"The step now uses the audience “{picked.name}”.")
            return
        if data["pinterest_audience_id"]:
            if ad_account is None:
                raise services.ServiceError("Choose an ad account before choosing its audience.")
            step = services.step_update(
                step=step, audience=services.AudienceChoice(pinterest_audience_id=data["pinterest_audience_id"]), **changes
            )
            messages.success(request, f"The step now syncs to the existing Pinterest audience “{step.audience.name}”.")
            return
        if current is not None and (ad_account is None or current.ad_account_id != ad_account.pk):
            # The audience belongs to the old ad account: the new one needs its own.
            changes["audience"] = None
        services.step_update(step=step, **changes)
        messages.success(request, "Step saved.")
        if typed and (current is None or typed != current.name) and changes.get("audience", current) is not None:
            messages.warning(
                request,
                f"The audience was not changed: pick “{typed}” from the search results, or click Create audience.",
            )
        elif changes.get("audience", current) is None:
            messages.warning(request, "Choose an existing audience or create one before launching.")

    def audience_search_view(self, request, step_id: int):
        step = self._step(request, step_id)
        self.require(request, Action.CANVAS_EDIT, step.canvas)  # the editor's search spends the token's rate
        # `ad_account` is the ad account's row id (the editor's select); anything
        # else is refused here, before the database or Pinterest sees it.
        raw = request.GET.get("ad_account", "")
        if not AD_ACCOUNT_PK.fullmatch(raw):
            return JsonResponse({"error": "Choose an ad account first."}, status=400)
        ad_account = scoped_choices("ad_account", request).filter(
            connection__workspace=step.canvas.workspace, pk=int(raw)
        ).first()
        if ad_account is None:
            return JsonResponse({"error": "Choose an ad account first."}, status=400)
        bookmark = request.GET.get("bookmark") or None
        if bookmark is not None and not SEARCH_BOOKMARK.fullmatch(bookmark):
            return JsonResponse({"error": "That page of results is no longer available; search again."}, status=400)
        query = request.GET.get("q", "").replace("\x00", "")[:100]  # no name holds a NUL; PostgreSQL refuses one
        # The workspace's own audiences of this ad account come first, drafts included: a later step can
        # then remove from the audience an earlier step creates before Pinterest has it (first page only).
        ours = [] if bookmark else workspace_audiences(step.canvas.workspace, ad_account, query)
        try:
            page = services.pinterest_audiences_search(ad_account=ad_account, search=query, bookmark=bookmark)
        except SHOWN_ERRORS as exc:
            if ours:  # the workspace's own audiences can still be picked
                return JsonResponse({"items": ours, "next_bookmark": None, "warning": str(exc)})
            return JsonResponse({"error": str(exc)}, status=502)
        known = {item["id"] for item in ours if item["id"]}
        return JsonResponse({
            "items": ours + [
                {"id": a.id, "name": a.name, "size": a.size, "status": a.status}
                for a in page.items
                if a.audience_type == "CUSTOMER_LIST" and a.id not in known
            ],
            "next_bookmark": page.next_bookmark,
        })

    # Step analytics.

    def step_analytics_view(self, request, step_id: int):
        step = self._step(request, step_id)
        canvas = step.canvas
        numbers = metrics.step_metrics(step).as_dict()
        audience = step.audience
        members = metrics.audience_member_count(audience.pk) if audience else 0
        return TemplateResponse(request, "audiences/step_analytics.html", self._context(
            request,
            title=f"Analytics: {step}",
            canvas=canvas,
            step=step,
            numbers=[
                {"key": key, "label": label, "value": numbers[key], "help": HELP[key]}
                for key, label in NUMBERS
            ],
            chart=hourly_chart(metrics.step_hourly_series(step, hours=48)),
            time_to_pinterest=figures.time_to_pinterest_sentence(step) if step.kind == Step.Kind.AUDIENCE_SYNC else "",
            audience=audience,
            members=members,
            sent=figures.sent_per_type(step) if step.kind == Step.Kind.AUDIENCE_SYNC else None,
            lists=figures.audience_lists(audience) if audience else [],
            pinterest_status=figures.pinterest_status_words(audience.pinterest_status) if audience else "",
            size_sentence=sizes.size_sentence(sizes.size_facts(audience)) if audience else "",
            size_history=sizes.size_history(audience) if audience else [],
            measured_at=sizes.when(audience.checked_at) if audience else "",
            send_logs=figures.send_log_rows(audience) if audience else [],
            errored=list(
                SyncRecord.objects.filter(step=step, state=SyncRecord.State.ERRORED).order_by("-id")[:50]
            ),
            error_groups=error_groups.errored_groups(step) if numbers["errored"] else [],
            errored_total=numbers["errored"],
            suppressed=numbers.get("suppressed", 0),
            actalike_form=ActalikeForm() if audience and audience.status == Audience.Status.READY else None,
            edit_url=reverse("admin:audiences_step_edit", args=[step.pk]) if step.kind == Step.Kind.AUDIENCE_SYNC else "",
            may=roles.rights(request.user, canvas.workspace_id),
            connection_problems=page_problems(canvas.workspace, [step]),
        ))

    def step_retry_view(self, request, step_id: int):
        step = self._step(request, step_id)
        self.require(request, Action.RECORDS_RETRY, step.canvas)
        if request.method == "POST":
            cause = request.POST.get("cause", "")
            if cause:  # one group's retry button: only the users errored for that cause
                group = next((g for g in error_groups.errored_groups(step) if g.key == cause), None)
                if group is None:
                    messages.info(request, "Those users are no longer errored.")
                    return HttpResponseRedirect(reverse("admin:audiences_step_analytics", args=[step.pk]))
                count = services.records_retry_errored(step=step, last_errors=group.last_errors, cause=group.title)
            else:
                count = services.records_retry_errored(step=step)
            if count:
                messages.success(request, f"{count} errored user{'s' if count != 1 else ''} will be sent again now.")
            else:
                messages.info(request, "No errored users to retry.")
        return HttpResponseRedirect(reverse("admin:audiences_step_analytics", args=[step.pk]))

    def step_refresh_size_view(self, request, step_id: int):
        """Read the step's audience on Pinterest now ("Refresh now")."""
        step = self._step(request, step_id)
        self.require(request, Action.CANVAS_EDIT, step.canvas)  # a read that spends the token's rate
        back = HttpResponseRedirect(reverse("admin:audiences_step_analytics", args=[step.pk]) + "#audience-status")
        if request.method != "POST" or step.audience is None:
            return back
        try:
            audience = refresh.audience_refresh(audience=step.audience)
        except SHOWN_ERRORS as exc:
            messages.error(request, str(exc))
        else:
            size = f"{audience.pinterest_size:,}" if audience.pinterest_size is not None else "no size yet"
            messages.success(request, f"Read from Pinterest just now: {size}.")
        return back

    def step_actalike_view(self, request, step_id: int):
        step = self._step(request, step_id)
        self.require(request, Action.AUDIENCE_CREATE, step.canvas)
        back = HttpResponseRedirect(reverse("admin:audiences_step_analytics", args=[step.pk]))
        if request.method != "POST" or step.audience is None:
            return back
        form = ActalikeForm(request.POST)
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label or field.title() if field in form.fields else "Actalike audience"
                messages.error(request, f"{label}: {' '.join(errors)}")
            return back
        try:
            remote = services.audience_create_actalike(
                audience=step.audience,
                country=form.cleaned_data["country"],
                percentage=form.cleaned_data["percentage"],
                name=form.cleaned_data["name"],
            )
        except SHOWN_ERRORS as exc:
            messages.error(request, f"The Actalike audience was not created: {exc}")
        else:
            messages.success(
                request,
                f"Actalike audience “{remote.name}” created on Pinterest (audience id {remote.id}). "
                "Pinterest fills it within 24–48 hours.",
            )
        return back
