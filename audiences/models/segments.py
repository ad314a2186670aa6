"""Segments kept in step: an Audience Sync step fed the whole membership of a segment at a time.

A partner (or a file, a command, a SQL source run) opens a Snapshot, adds
its members in pages, and commits it. Committing compares the snapshot with
the segment's current one (the last committed): newcomers enter the step as
adds, leavers as removes, through the same records, sender and ledger as
any entry. A snapshot never committed changes nothing. Written by
audiences.services.segments only.
"""

from django.db import models
from django.utils import timezone

from audiences.models import Step
from integrations.models import Workspace


class Segment(models.Model):
    """The membership an Audience Sync step's audience must equal."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    step = models.OneToOneField(Step, on_delete=models.CASCADE, related_name="segment")
    name = models.CharField(max_length=200, blank=True)
    max_removal_percent = models.PositiveSmallIntegerField(
        default=50, help_text="A snapshot removing more than this share of the members waits for confirmation.")
    # The last committed snapshot: its staged members are the segment's membership.
    current_snapshot = models.ForeignKey("Snapshot", null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="+")
    members = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"Segment of step {self.step_id}"


class Snapshot(models.Model):
    """One complete membership of a segment, staged until it is committed or discarded."""

    class State(models.TextChoices):
        OPEN = "open", "Open (receiving members)"
        COMMITTING = "committing", "Being applied"
        WAITING = "waiting", "Waiting for confirmation"
        COMMITTED = "committed", "Committed"
        DISCARDED = "discarded", "Discarded"

    class Source(models.TextChoices):
        API = "api", "API"
        FILE = "file", "Uploaded file"
        COMMAND = "command", "Command"
        SQL = "sql", "SQL source run"

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="snapshots")
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    source = models.CharField(max_length=10, choices=Source.choices)
    actor = models.CharField(max_length=200, blank=True, help_text="Who or what opened it.")
    committed_by = models.CharField(max_length=200, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    rows = models.BigIntegerField(default=0, help_text="Member rows received (a repeated member counts again).")
    members = models.BigIntegerField(default=0)
    added = models.BigIntegerField(default=0)
    removed = models.BigIntegerField(default=0)
    changed = models.BigIntegerField(default=0, help_text="Members whose identifiers changed: sent again.")
    refused = models.BigIntegerField(default=0)
    # Where applying stopped (adds, then removes, in external id order), so a commit interrupted resumes.
    applied_adds_after = models.CharField(max_length=255, blank=True)
    applied_removes_after = models.CharField(max_length=255, blank=True)
    adds_done = models.BooleanField(default=False)
    # A large commit is counted and applied by a worker: what it was asked (confirm a large removal or not),
    # whether its changes were counted yet, and when a worker last moved it on (the sweep queues it again).
    confirmed = models.BooleanField(default=False)
    changes_counted = models.BooleanField(default=True)
    touched_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["segment", "state"], name="snapshot_segment_state")]

    def __str__(self) -> str:
        return f"Snapshot {self.pk} ({self.get_state_display()})"


class SnapshotMember(models.Model):
    """One member of a snapshot: hashes only, never raw identifiers."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="+", db_index=False)
    external_id = models.CharField(max_length=255)
    email_hash = models.CharField(max_length=64, blank=True)
    idfa_hash = models.CharField(max_length=64, blank=True)
    maid_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        # The one index: every read is one snapshot's members in external id order, or one member of it.
        constraints = [models.UniqueConstraint(fields=["snapshot", "external_id"], name="unique_snapshot_member")]


class SnapshotPage(models.Model):
    """A page of members received under an idempotency key: the same page again adds nothing."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "key"], name="unique_snapshot_page_key")]
