"""Files of users in the admin: the canvas upload, and each import's page with its progress and result.

An upload is stored and handed to a job (audiences.services.imports), and
the browser goes to the job's page, which follows its progress (rows read,
entered, refused) from a small JSON status URL until it ends, then shows the
result: the figures, or every bad row named with its line, field and value.
The same file for the same target within a day waits there for a Confirm.
Who may upload is who may enter users (or edit the suppression list);
viewers see the history and the pages, without the buttons.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse

from audiences.admin.numbers import count_column
from audiences.models import Canvas, ImportJob, Segment
from audiences.services import imports, imports_csv
from audiences.services.errors import ServiceError
from integrations import roles
from integrations.admin import ReadOnlyScopedAdmin, workspace_ids
from integrations.roles import Action

Kind = ImportJob.Kind


def job_url(job: ImportJob) -> str:
    return reverse("admin:audiences_importjob_change", args=[job.pk])


def action_for(job: ImportJob) -> Action:
    """What a person must be allowed to do to start (or confirm) a job of this kind."""
    if job.kind in (Kind.SUPPRESS, Kind.UNSUPPRESS):
        return Action.SUPPRESSION_EDIT
    return Action.USERS_ENTER


def actor_of(request) -> str:
    user = request.user
    return getattr(user, "email", "") or user.get_username()


class UploadPages:
    """The CSV upload view of CanvasAdmin (which provides _canvas and _canvas_url)."""

    def canvas_upload_view(self, request, canvas_id: int):
        canvas = self._canvas(request, canvas_id)
        self.require(request, Action.USERS_ENTER, canvas)
        back = HttpResponseRedirect(self._canvas_url(canvas) + "#upload-users")
        upload = request.FILES.get("users_csv")
        if request.method != "POST":
            return back
        if canvas.status != Canvas.Status.ACTIVE:
            messages.error(request, "Launch the canvas before adding users: users can only enter a live canvas.")
            return back
        if upload is None:
            messages.error(request, "Choose a CSV file to upload.")
            return back
        return upload_and_show(request, workspace=canvas.workspace, kind=Kind.ENTRIES, upload=upload,
                               canvas=canvas, back=back)


def upload_and_show(request, *, workspace, kind: str, upload, back, canvas: Canvas | None = None,
                    segment_id: int | None = None):
    """Store the upload as a job and go to its page; a refused file goes back with the reason."""
    if upload.size > imports_csv.max_bytes():
        messages.error(request, f"The file is over {imports_csv.max_bytes() / 1e6:,.0f} MB: split it into "
                                "several files, or ask staff to import it on the server.")
        return back
    try:
        job = imports.import_create(workspace=workspace, kind=kind, canvas=canvas, segment_id=segment_id, file=upload,
                                    file_name=upload.name or "users.csv", user=request.user,
                                    actor=actor_of(request))
    except ServiceError as exc:
        messages.error(request, f"The file was refused: {exc}")
        return back
    return HttpResponseRedirect(job_url(job))


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyScopedAdmin):
    """Every import of the member's workspaces, newest first; each with its own page."""

    list_display = ["created_at", "workspace", "kind", "file_name", "file_size", "actor", "state", "rows_read_count",
                    "rows_entered_count", "rows_refused_count"]
    rows_read_count = count_column("rows_read", "Rows read")
    rows_entered_count = count_column("rows_entered", "Rows entered")
    rows_refused_count = count_column("rows_refused", "Rows refused")

    @admin.display(description="Size", ordering="size")
    def file_size(self, obj):
        return filesizeformat(obj.size)
    list_filter = ["kind", "state"]
    list_select_related = ["workspace"]
    search_fields = ["file_name", "actor"]

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:job_id>/status/", wrap(self.status_view), name="audiences_importjob_status"),
            path("<int:job_id>/confirm/", wrap(self.confirm_view), name="audiences_importjob_confirm"),
            path("<int:job_id>/cancel/", wrap(self.cancel_view), name="audiences_importjob_cancel"),
            path("segment/<int:segment_id>/upload/", wrap(self.segment_upload_view),
                 name="audiences_segment_upload"),
            *super().get_urls(),
        ]

    def _job(self, request, job_id) -> ImportJob:
        job = get_object_or_404(self.get_queryset(request).select_related("canvas", "workspace"), pk=job_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self._job(request, object_id)
        may_act = roles.can(request.user, job.workspace_id, action_for(job))
        back_url, back_label = self._back(job)
        return TemplateResponse(request, "audiences/import_job.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": str(job), "job": job,
            "status": imports.import_status(job), "may_act": may_act, "back_url": back_url,
            "back_label": back_label, "summary": imports.summary(job) if job.state == ImportJob.State.DONE else "",
            "status_url": reverse("admin:audiences_importjob_status", args=[job.pk]),
            "confirm_url": reverse("admin:audiences_importjob_confirm", args=[job.pk]),
            "cancel_url": reverse("admin:audiences_importjob_cancel", args=[job.pk]),
            "errors_shown": imports_csv.ERRORS_SHOWN,
        })

    def _back(self, job: ImportJob) -> tuple[str, str]:
        if job.canvas_id:
            return reverse("admin:audiences_canvas_change", args=[job.canvas_id]) + "#upload-history", str(job.canvas)
        if job.kind in (Kind.SUPPRESS, Kind.UNSUPPRESS):
            return reverse("admin:audiences_suppressedidentifier_changelist"), "Suppression list"
        if job.segment_id:
            return reverse("admin:audiences_segment_change", args=[job.segment_id]), "the segment"
        return reverse("admin:audiences_importjob_changelist"), "Imports"

    def segment_upload_view(self, request, segment_id: int):
        """A file that is the segment's whole membership: one snapshot, as a job (newcomers added, leavers removed)."""
        segments = Segment.objects.select_related("workspace")
        if not request.user.is_superuser:
            segments = segments.filter(workspace_id__in=workspace_ids(request))
        segment = get_object_or_404(segments, pk=segment_id)
        roles.require(request.user, segment.workspace_id, Action.USERS_ENTER)
        back = HttpResponseRedirect(reverse("admin:audiences_segment_change", args=[segment.pk]))
        upload = request.FILES.get("members_csv")
        if request.method != "POST" or upload is None:
            if request.method == "POST":
                messages.error(request, "Choose a CSV file of the segment's members.")
            return back
        return upload_and_show(request, workspace=segment.workspace, kind=Kind.SEGMENT, upload=upload, back=back,
                               segment_id=segment.pk)

    def status_view(self, request, job_id: int):
        """The job's figures as JSON, for its page to follow while it runs."""
        job = self._job(request, job_id)
        return JsonResponse({**imports.import_status(job), "summary": imports.summary(job)})

    def confirm_view(self, request, job_id: int):
        return self._decide(request, job_id, imports.import_confirm, "Queued: the file is imported again.")

    def cancel_view(self, request, job_id: int):
        return self._decide(request, job_id, imports.import_cancel, "Cancelled: nothing was imported.")

    def _decide(self, request, job_id: int, service, done: str):
        job = self._job(request, job_id)
        if request.method != "POST":
            return HttpResponseRedirect(job_url(job))
        roles.require(request.user, job.workspace_id, action_for(job))
        try:
            service(job=job)
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, done)
        return HttpResponseRedirect(job_url(job))
