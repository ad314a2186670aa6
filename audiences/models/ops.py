"""Bookkeeping of the machinery: retention's progress, the lists due to send, leases and idempotent requests."""

from django.db import models
from django.utils import timezone

from audiences.models.canvases import Audience, Step
from integrations.models import Workspace


class RetentionProgress(models.Model):
    """Where retention stands for one kind of row (sync records, send logs, ...): written by each run.

    /metrics and /healthz read it: the oldest finished row still kept tells
    whether deleting keeps pace with entering.
    """

    kind = models.CharField(max_length=30, primary_key=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_seconds = models.FloatField(default=0.0)
    last_deleted = models.BigIntegerField(default=0)
    deleted_total = models.BigIntegerField(default=0)
    caught_up = models.BooleanField(default=True)  # the last run deleted everything that was due
    oldest_kept_at = models.DateTimeField(null=True, blank=True)  # the oldest finished row left (None: none)


class DueList(models.Model):
    """An audience and operation that may have users waiting: the sender's work list.

    Whatever makes users pending (entering, a retry, a reconnection) touches
    its row after committing, which is how the sender hears of new work
    without a task per call; the sender forgets a row once no user of it
    waits and nobody touched it for a while.
    """

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="+", db_index=False)
    action = models.CharField(max_length=10, choices=Step.Action.choices)
    touched_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["audience", "action"], name="unique_due_list")]


class Lease(models.Model):
    """A named, expiring lock shared by every process (the sender pumps and their start)."""

    name = models.CharField(max_length=200, unique=True)
    owner = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)


class IdempotentRequest(models.Model):
    """The answer to a bulk entry call, kept by its Idempotency-Key so a retry is a no-op."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request, to refuse a reused key")
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="unique_idempotency_key")]
