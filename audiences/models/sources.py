"""SQL sources: a query run on a schedule whose rows become a segment's snapshot.

Written by audiences.services.sources only. The connection URL is stored
encrypted like the Pinterest tokens (integrations.crypto) and never shown.
"""

from django.db import models
from django.utils import timezone

from audiences.models.segments import Segment, Snapshot
from integrations import crypto
from integrations.models import Workspace


class SqlSource(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    segment = models.OneToOneField(Segment, on_delete=models.CASCADE, related_name="source")
    url_encrypted = models.TextField()
    url_display = models.CharField(max_length=300, help_text="Scheme, host, port and database: no user or password.")
    query = models.TextField()
    every_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: run only by hand.")
    enabled = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="The last run's error; empty once a run succeeds.")
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="sqlsource_due")]

    def __str__(self) -> str:
        return f"SQL source of {self.segment}"

    @property
    def url(self) -> str:
        return crypto.decrypt(self.url_encrypted)


class SourceRun(models.Model):
    """One run of a source: what a marketer sees of it (rows, added, removed, refused, duration, error)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        WAITING = "waiting", "Waiting for confirmation"
        FAILED = "failed", "Failed: nothing changed"

    source = models.ForeignKey(SqlSource, on_delete=models.CASCADE, related_name="runs")
    snapshot = models.ForeignKey(Snapshot, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=200, blank=True, help_text="Schedule, or who ran it.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows = models.BigIntegerField(default=0)
    added = models.BigIntegerField(default=0)
    removed = models.BigIntegerField(default=0)
    refused = models.BigIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["source", "-id"], name="sourcerun_source_recent")]
