"""A segment's page: its membership, its snapshots with their counts, and its SQL source with its runs.

Viewers read it; marketers create segments, set the share a snapshot may
remove without asking, and confirm or discard a waiting snapshot; workspace
admins attach a SQL source and run it (it reaches into a database, like the
connection they hold). Every write calls audiences.services.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audiences.admin.numbers import count_column
from audiences.admin.uploads import actor_of
from audiences.models import Segment, Snapshot, SqlSource, Step
from audiences.services import segments, sources
from audiences.services.errors import ServiceError
from integrations import roles
from integrations.admin import ReadOnlyScopedAdmin
from integrations.roles import Action

SNAPSHOTS_SHOWN = 50
RUNS_SHOWN = 20


class SegmentForm(forms.Form):
    step = forms.ModelChoiceField(queryset=Step.objects.none(), help_text="An Audience Sync step that adds users.")
    name = forms.CharField(max_length=200, required=False)
    max_removal_percent = forms.IntegerField(min_value=0, max_value=100, initial=50, label="Confirm removals over (%)")


class ShareForm(forms.Form):
    max_removal_percent = forms.IntegerField(min_value=0, max_value=100, label="Confirm removals over (%)")


class SourceForm(forms.Form):
    url = forms.CharField(label="PostgreSQL URL", widget=forms.PasswordInput(render_value=False),
                          help_text="postgresql://user:password@host:5432/database; stored encrypted, never shown.")
    query = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}),
                            help_text="One SELECT returning external_id and any of email, ios_idfa, android_aid.")
    every_minutes = forms.IntegerField(min_value=1, max_value=10080, required=False,
                                       help_text="Empty: run only with “Run now”.")


@admin.register(Segment)
class SegmentAdmin(ReadOnlyScopedAdmin):
    list_display = ["__str__", "workspace", "step", "members_count", "created_at"]
    members_count = count_column("members", "Members")
    list_select_related = ["workspace", "step"]

    def has_add_permission(self, request):
        return request.user.is_superuser or roles.can_anywhere(request.user, Action.CANVAS_EDIT)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:segment_id>/share/", wrap(self.share_view), name="audiences_segment_share"),
            path("<int:segment_id>/snapshot/<int:snapshot_id>/<str:decision>/", wrap(self.decide_view),
                 name="audiences_segment_decide"),
            path("<int:segment_id>/source/", wrap(self.source_view), name="audiences_segment_source"),
            path("<int:segment_id>/source/run/", wrap(self.source_run_view), name="audiences_segment_source_run"),
            *super().get_urls(),
        ]

    def _segment(self, request, segment_id) -> Segment:
        return get_object_or_404(self.get_queryset(request).select_related("step__canvas", "step__audience"),
                                 pk=segment_id)

    def _page(self, segment: Segment) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:audiences_segment_change", args=[segment.pk]))

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        steps = Step.objects.filter(kind=Step.Kind.AUDIENCE_SYNC, action=Step.Action.ADD, segment__isnull=True)
        if not request.user.is_superuser:
            steps = steps.filter(canvas__workspace__in=roles.workspace_ids_where(request.user, Action.CANVAS_EDIT))
        form = SegmentForm(request.POST or None, initial={"step": request.GET.get("step")})
        form.fields["step"].queryset = steps.select_related("canvas")
        form.fields["step"].label_from_instance = lambda step: f"{step.canvas} / {step}"
        if request.method == "POST" and form.is_valid():
            step = form.cleaned_data["step"]
            roles.require(request.user, step.canvas.workspace_id, Action.CANVAS_EDIT)
            try:
                segment = segments.segment_create(step=step, name=form.cleaned_data["name"] or "",
                                                  max_removal_percent=form.cleaned_data["max_removal_percent"])
            except ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Segment created: send it a snapshot, or attach a SQL source.")
                return self._page(segment)
        return TemplateResponse(request, "audiences/segment_add.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": "Feed a step from a segment",
            "form": form,
        })

    def change_view(self, request, object_id, form_url="", extra_context=None):
        segment = self._segment(request, object_id)
        workspace = segment.workspace_id
        source = SqlSource.objects.filter(segment=segment).first()
        snapshots = list(segment.snapshots.all()[:SNAPSHOTS_SHOWN])
        return TemplateResponse(request, "audiences/segment.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": str(segment),
            "segment": segment, "snapshots": snapshots, "source": source,
            "runs": list(source.runs.all()[:RUNS_SHOWN]) if source else [],
            "may_edit": roles.can(request.user, workspace, Action.CANVAS_EDIT),
            "may_decide": roles.can(request.user, workspace, Action.CANVAS_RUN),
            "may_source": roles.can(request.user, workspace, Action.CONNECTION_MANAGE),
            "share_form": ShareForm(initial={"max_removal_percent": segment.max_removal_percent}),
            "source_form": SourceForm(), "analytics_url": reverse("admin:audiences_step_analytics",
                                                                  args=[segment.step_id]),
        })

    def share_view(self, request, segment_id: int):
        segment = self._segment(request, segment_id)
        if request.method == "POST":
            roles.require(request.user, segment.workspace_id, Action.CANVAS_EDIT)
            form = ShareForm(request.POST)
            if form.is_valid():
                segments.segment_update(segment=segment, max_removal_percent=form.cleaned_data["max_removal_percent"])
                messages.success(request, "Saved.")
            else:
                messages.error(request, "The share is a whole number from 0 to 100.")
        return self._page(segment)

    def decide_view(self, request, segment_id: int, snapshot_id: int, decision: str):
        segment = self._segment(request, segment_id)
        snapshot = get_object_or_404(Snapshot, pk=snapshot_id, segment=segment)
        if request.method != "POST" or decision not in ("confirm", "discard"):
            return self._page(segment)
        roles.require(request.user, segment.workspace_id, Action.CANVAS_RUN)
        try:
            if decision == "confirm":
                done = segments.snapshot_commit_request(snapshot, actor=actor_of(request), confirmed=True)
                if done.state == Snapshot.State.COMMITTING:
                    messages.success(request, "Being applied by a worker: this page shows it as committed when it "
                                              "is done.")
                else:
                    messages.success(request, f"Committed: {done.added + done.changed:,} added, "
                                              f"{done.removed:,} removed.")
            else:
                segments.snapshot_discard(snapshot, actor=actor_of(request))
                messages.success(request, "Discarded: nothing was sent.")
        except ServiceError as exc:
            messages.error(request, str(exc))
        return self._page(segment)

    def source_view(self, request, segment_id: int):
        segment = self._segment(request, segment_id)
        if request.method != "POST":
            return self._page(segment)
        roles.require(request.user, segment.workspace_id, Action.CONNECTION_MANAGE)
        form = SourceForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Give the database's URL and a query; the schedule is a number of minutes.")
            return self._page(segment)
        try:
            sources.source_create(segment=segment, url=form.cleaned_data["url"], query=form.cleaned_data["query"],
                                  every_minutes=form.cleaned_data["every_minutes"],
                                  by_staff=request.user.is_superuser, actor=actor_of(request))
        except ServiceError as exc:
            messages.error(request, f"The source was refused: {exc}")
        else:
            messages.success(request, "Source attached. “Run now” tries it at once.")
        return self._page(segment)

    def source_run_view(self, request, segment_id: int):
        segment = self._segment(request, segment_id)
        source = get_object_or_404(SqlSource, segment=segment)
        if request.method == "POST":
            roles.require(request.user, segment.workspace_id, Action.CONNECTION_MANAGE)
            sources.source_run_soon(source)
            messages.success(request, "Queued: the run starts within a minute; its row appears below.")
        return self._page(segment)

