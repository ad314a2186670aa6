"""Files taken in as jobs: the upload history of a canvas, of the suppression list and of a segment.

Written only by audiences.services.imports. The file itself is kept under
settings.IMPORTS_ROOT while the job runs and deleted when it ends.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from audiences.models import Canvas
from integrations.models import Workspace


class ImportJob(models.Model):
    """One file, checked whole, then entered in batches; resumable from `checkpoint`."""

    class Kind(models.TextChoices):
        ENTRIES = "entries", "Users entering a canvas"
        SUPPRESS = "suppress", "Added to the suppression list"
        UNSUPPRESS = "unsuppress", "Taken off the suppression list"
        SEGMENT = "segment", "The whole segment (a snapshot)"

    class State(models.TextChoices):
        CONFIRM = "confirm", "Waiting for confirmation (the same file was imported within a day)"
        QUEUED = "queued", "Queued"
        CHECKING = "checking", "Checking every row"
        ENTERING = "entering", "Entering"
        DONE = "done", "Done"
        REFUSED = "refused", "Refused (bad rows: nothing was entered)"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (State.QUEUED, State.CHECKING, State.ENTERING)
    FINISHED = (State.DONE, State.REFUSED, State.FAILED, State.CANCELLED)

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    canvas = models.ForeignKey(Canvas, null=True, blank=True, on_delete=models.CASCADE, related_name="imports")
    segment_id = models.BigIntegerField(null=True, blank=True)  # audiences.Segment (a later migration)
    stored_name = models.CharField(max_length=200, blank=True)  # under IMPORTS_ROOT; blank once deleted
    file_name = models.CharField(max_length=200)
    size = models.BigIntegerField(default=0)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of the file's bytes
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    actor = models.CharField(max_length=150, blank=True)  # who, as the audit log names them
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    rows_read = models.BigIntegerField(default=0)
    rows_entered = models.BigIntegerField(default=0)
    rows_refused = models.BigIntegerField(default=0)
    checkpoint = models.BigIntegerField(default=0)  # the last line checked (checking) or entered (entering)
    errors = models.JSONField(default=list, blank=True)  # the first bad rows: line, field, value, message
    result = models.JSONField(default=dict, blank=True)  # the entry path's figures, summed over batches
    message = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)  # a worker holds the job until then
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="importjob_workspace_recent"),
            models.Index(fields=["canvas", "-created_at"], name="importjob_canvas_recent"),
            models.Index(fields=["state"], name="importjob_state"),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk}: {self.file_name}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE
