"""The "Find a person" page: where one user is in the canvases of the member's workspaces.

A view of SyncRecordAdmin (mixed in there), open to every role that reads
sync records, scoped to the workspaces the member may read (superusers: all).
What is typed arrives by POST only, so it is in no URL and no access log; it
is marked sensitive, so an error report shows it as stars; it is handed to
audiences.services.person_lookup, which hashes it and records the lookup.
"""

from __future__ import annotations

from django import forms
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from audiences.admin.overview import UrlPattern, moment
from audiences.models import SyncRecord
from audiences.services.person_lookup import MAX_RECORDS, LookupRejected, person_find
from integrations import roles
from integrations.roles import Action

FIELD = "identifier"
STATE_WORDS = {  # the words of the step's seven figures
    SyncRecord.State.PENDING: "Pending",
    SyncRecord.State.SYNCED: "Synced",
    SyncRecord.State.NOT_SYNCED: "Not synced (no match field)",
    SyncRecord.State.SUPPRESSED: "Not synced (suppressed)",
    SyncRecord.State.ERRORED: "Errored",
}


class PersonForm(forms.Form):
    identifier = forms.CharField(
        label="Email, mobile ad id or external id", max_length=600, strip=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off",
                                      "size": 48}),
    )
    workspace = forms.TypedChoiceField(label="Workspace", coerce=int, required=False)

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        if len(workspaces) > 1:
            self.fields["workspace"].choices = [("", "All your workspaces"), *((w.pk, w.name) for w in workspaces)]
        else:
            del self.fields["workspace"]


class PersonLookupPages:
    """The find-a-person view of SyncRecordAdmin (which provides admin_site and model)."""

    @method_decorator(sensitive_post_parameters(FIELD))
    @method_decorator(sensitive_variables("typed"))
    def person_lookup_view(self, request):
        roles.require_anywhere(request.user, Action.VIEW)
        workspaces = list(roles.workspaces_where(request.user, Action.VIEW).order_by("name"))
        form = PersonForm(request.POST if request.method == "POST" else None, workspaces=workspaces)
        lookup = None
        if form.is_valid():
            typed = form.cleaned_data[FIELD]
            chosen = form.cleaned_data.get("workspace")
            scope = [w for w in workspaces if w.pk == chosen] if chosen else workspaces
            try:
                lookup = person_find(workspaces=scope, typed=typed)
            except LookupRejected as exc:
                form.add_error(FIELD, str(exc))
        return TemplateResponse(request, "audiences/person_lookup.html", {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Find a person",
            "form": form,
            "lookup": lookup,
            "results": _results(lookup) if lookup else [],
            "max_records": MAX_RECORDS,
        })


def _results(lookup) -> list[dict]:
    """Per workspace, what the template prints: rows in words, with their links."""
    record_url = UrlPattern("admin:audiences_syncrecord_change")
    step_url = UrlPattern("admin:audiences_step_analytics")
    canvas_url = UrlPattern("admin:audiences_canvas_change")
    results = []
    for found in lookup.workspaces:
        rows = []
        for r in found.records:
            step = r.step
            rows.append({
                "canvas": step.canvas.name, "canvas_url": canvas_url(step.canvas_id),
                "step": str(step), "step_url": step_url(step.pk), "record_url": record_url(r.pk),
                "external_id": r.external_id,
                "state": r.state, "state_words": STATE_WORDS.get(r.state, r.get_state_display()),
                "reason": r.last_error if r.state == SyncRecord.State.ERRORED else "",
                "entered": moment(r.entered_at), "sent": moment(r.synced_at),
                "errored": moment(r.errored_at) if r.state == SyncRecord.State.ERRORED else "",
            })
        results.append({
            "workspace": found.workspace.name, "found": found.found, "rows": rows,
            "audiences": found.audiences, "suppressed": found.suppressed,
            "requests": [{"words": p.get_kind_display(), "pk": p.pk, "since": moment(p.requested_at),
                          "last_error": p.last_error} for p in found.privacy_requests],
        })
    return results
