"""The per-user records of each sync, the ledger of who is in which list, and the log of requests sent.

Raw identifiers are never stored here: SyncRecord and DelayRecord keep the
SHA-256 hashes made on entry (integrations.pinterest.identifiers).
"""

from django.db import models
from django.utils import timezone

from audiences.models.canvases import LIST_TYPE_CHOICES, Audience, Step


class SyncRecord(models.Model):
    """One user's passage through one Audience Sync step.

    At every moment exactly one of: pending, synced, not synced, errored.
    A record is claimed for sending by setting lease_owner/lease_expires_at
    with a conditional UPDATE; an expired lease makes it claimable again.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SYNCED = "synced", "Synced"
        NOT_SYNCED = "not_synced", "Not synced (no match field)"
        ERRORED = "errored", "Errored"
        # Never sent: the user is on the workspace's suppression list (or was erased while
        # waiting). Counted inside "Users Not Synced" so the seven numbers still add up.
        SUPPRESSED = "suppressed", "Not synced (suppressed)"

    # No index of their own for either key: `syncrecord_step_state` starts
    # with the step and `syncrecord_due` serves the sender; every index costs
    # each of the millions of rows entering writes.
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="sync_records", db_index=False)
    # Denormalised from the step so the sender groups without joins.
    audience = models.ForeignKey(Audience, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    action = models.CharField(max_length=10, choices=Step.Action.choices)
    external_id = models.CharField(max_length=255)
    email_hash = models.CharField(max_length=64, blank=True)
    idfa_hash = models.CharField(max_length=64, blank=True)
    maid_hash = models.CharField(max_length=64, blank=True)
    sent_types = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    entered_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    synced_at = models.DateTimeField(null=True, blank=True)
    errored_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        # The admin's menu names them as a marketer does (the URL stays /syncrecord/).
        verbose_name = "user in a step"
        verbose_name_plural = "users in steps"
        indexes = [
            # Each (step, state) in id order: a step's records by state, and the admin's pages of them.
            models.Index(fields=["step", "state", "id"], name="syncrecord_step_state"),
            # One user's records: finding a person, erasure and suppression.
            models.Index(fields=["external_id"], name="syncrecord_external_id"),
            models.Index(fields=["state", "audience", "action", "next_attempt_at"], name="syncrecord_due"),
            # A step's errored users by cause (the analytics page's groups, retrying one cause), read from
            # the index alone. Partial: only errored rows are in it, so the millions synced cost nothing.
            models.Index(fields=["step", "last_error"], condition=models.Q(state="errored"),
                         name="syncrecord_step_errors"),
        ]


class DelayRecord(models.Model):
    """One user waiting in (or having passed) a Delay step."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        PROCEEDED = "proceeded", "Proceeded to next step"
        EXITED = "exited", "Exited canvas"

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="delay_records")
    external_id = models.CharField(max_length=255)
    email_hash = models.CharField(max_length=64, blank=True)
    idfa_hash = models.CharField(max_length=64, blank=True)
    maid_hash = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING)
    entered_at = models.DateTimeField(default=timezone.now)
    wake_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["step", "state"], name="delayrecord_step_state"),
            models.Index(fields=["state", "wake_at"], name="delayrecord_due"),
        ]


class AudienceMember(models.Model):
    """The membership ledger: which identifiers of which user are in an audience.

    Written when Pinterest accepts an ADD or REMOVE, so its counts (not the
    send log) say who is in the audience. A remove sends every identifier
    ever added for the user; a re-entering member is not sent again.
    """

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="members")
    external_id = models.CharField(max_length=255)
    list_type = models.CharField(max_length=8, choices=LIST_TYPE_CHOICES)
    identifier_hash = models.CharField(max_length=64)
    is_member = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["audience", "external_id", "list_type", "identifier_hash"], name="unique_ledger_entry"
            )
        ]
        # No other index: the unique key starts with the audience, which serves
        # every read, and each index costs every user a sent batch records.


class SendLog(models.Model):
    """One row per request to Pinterest, written before the call and completed after."""

    class Outcome(models.TextChoices):
        STARTED = "started", "In flight"
        OK = "ok", "Accepted"
        RETRY = "retry", "Will retry"
        AUTH = "auth", "Token invalid"
        FAILED = "failed", "Rejected"

    # No index of its own: `sendlog_audience_recent` starts with the audience. A second one would cost each
    # request a write, and SQLite's planner, without statistics, took it over the filters' indexes below.
    audience = models.ForeignKey(Audience, null=True, on_delete=models.SET_NULL, related_name="send_logs",
                                 db_index=False)
    operation = models.CharField(max_length=20)  # ADD, REMOVE, CREATE_LIST, FIND_LIST (looking for a lost create)
    list_type = models.CharField(max_length=8, blank=True)
    pinterest_customer_list_id = models.CharField(max_length=32, blank=True)
    size = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.STARTED)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    limiter_wait_ms = models.PositiveIntegerField(null=True, blank=True)  # held by the shared rate limit first
    error = models.TextField(blank=True)
    pinterest_request_id = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Rows are written as requests start, so the id is their order in time, and each audience's
        # rows in id order are one index range (the analytics page, the admin's pages).
        ordering = ["-id"]
        verbose_name = "request to Pinterest"
        verbose_name_plural = "requests to Pinterest"
        indexes = [
            models.Index(fields=["audience", "id"], name="sendlog_audience_recent"),
            # The admin's filters read one range per audience and the value chosen: by outcome (failed,
            # retried), by request (a rare one such as creating a list), or held back without a call (a
            # partial index: a row is in it only while unanswered, so it stays small).
            models.Index(fields=["audience", "outcome", "id"], name="sendlog_audience_outcome"),
            models.Index(fields=["audience", "operation", "id"], name="sendlog_audience_operation"),
            models.Index(fields=["audience", "id"], condition=models.Q(http_status__isnull=True),
                         name="sendlog_audience_unanswered"),
        ]
