"""Trust and privacy: the audit log, the suppression list, removals and erasures, alerts and incidents."""

from django.db import models
from django.utils import timezone

from integrations.models import Workspace


class AuditEvent(models.Model):
    """Who did what to a workspace, when, and from where (admin, API key, command). Written by services.audit."""

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        WEB = "web", "Workspace pages"
        API = "api", "API key"
        COMMAND = "command", "Command"
        SYSTEM = "system", "Background task"

    workspace = models.ForeignKey(Workspace, null=True, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=40)
    source = models.CharField(max_length=10, choices=Source.choices)
    actor = models.CharField(max_length=200, blank=True, help_text="The user, API key prefix or command name.")
    ip = models.GenericIPAddressField(null=True, blank=True)
    target = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["workspace", "-id"], name="auditevent_workspace_recent")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor or self.source}"


class SuppressedIdentifier(models.Model):
    """Someone who must never be added to a Pinterest audience of the workspace.

    Only SHA-256 hashes are kept: of the normalised email or ad id (as sent to
    Pinterest), or of the external id.
    """

    class Kind(models.TextChoices):
        EXTERNAL_ID = "external_id", "External id"
        EMAIL = "email", "Email"
        IDFA = "ios_idfa", "iOS IDFA"
        MAID = "android_aid", "Android advertising id"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    value_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "suppression list entry"
        verbose_name_plural = "suppression list"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "value_hash", "kind"], name="unique_suppressed_identifier")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value_hash[:12]}…"


class PrivacyRequest(models.Model):
    """Take one user out of every Pinterest audience of the workspace (and, for an erasure, forget them).

    Pending until Pinterest accepted every removal; retried with backoff by a
    schedule, so it survives restarts. A done erasure keeps no identifier of
    the user, only what was removed (`removed`: counts).
    """

    class Kind(models.TextChoices):
        ERASE = "erase", "Erasure"
        SUPPRESS = "suppress", "Removal after suppression"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    external_id = models.CharField(max_length=255, blank=True, help_text="Cleared when the request is done.")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    removed = models.JSONField(default=dict, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="privacyrequest_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"


class AlertSettings(models.Model):
    """Who a workspace tells when something needs a person (audiences.services.alerts).

    Without a row, or with `emails` empty and `to_admins` on, the workspace's
    admins are emailed: alerts are on by default. Webhook calls are signed
    with `webhook_secret` (HMAC-SHA256 over "timestamp.body").
    """

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="+")
    enabled = models.BooleanField(default=True)
    to_admins = models.BooleanField(
        default=True, help_text="Also email the workspace's admins and marketers (each may turn alerts off for themself).")
    emails = models.JSONField(default=list, blank=True)
    webhook_url = models.URLField("webhook URL", blank=True)
    webhook_secret = models.CharField(max_length=64, blank=True)
    errored_threshold = models.PositiveIntegerField(default=100, help_text="Errored users of a step that open an incident.")

    class Meta:
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return f"Alerts of {self.workspace}"


class Incident(models.Model):
    """Something wrong in a workspace, open until it is resolved: alerts go once when opened, once when resolved."""

    class Kind(models.TextChoices):
        CONNECTION_INVALID = "connection_invalid", "Pinterest connection invalid"
        AD_ACCOUNT_UNAVAILABLE = "ad_account_unavailable", "Ad account unavailable"
        STEP_ERRORED = "step_errored", "Step errored users over the threshold"
        AUDIENCE_DELETED = "audience_deleted", "Audience deleted on Pinterest"
        SOURCE_FAILED = "source_failed", "A segment's SQL source failed"
        SNAPSHOT_WAITING = "snapshot_waiting", "A segment snapshot waits for confirmation"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    key = models.CharField(max_length=100, help_text="What it is about, e.g. step:12")
    summary = models.TextField()
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One open incident per thing: two sweepers at once cannot both open it (nor alert twice).
            models.UniqueConstraint(fields=["workspace", "key"], condition=models.Q(resolved_at__isnull=True),
                                    name="one_open_incident_per_key")
        ]

    def __str__(self) -> str:
        return self.summary


class AlertDelivery(models.Model):
    """One alert to one recipient (an email address or the webhook), retried with backoff until delivered."""

    class Event(models.TextChoices):
        OPENED = "opened", "Opened"
        RESOLVED = "resolved", "Resolved"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Gave up"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=10, choices=Event.choices)
    channel = models.CharField(max_length=10)  # email | webhook
    recipient = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="alertdelivery_due")]
