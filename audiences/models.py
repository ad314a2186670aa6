"""Canvases, their steps, audiences and the per-user records of each sync.

Raw identifiers are never stored here: SyncRecord and DelayRecord keep the
SHA-256 hashes made on entry (integrations.pinterest.identifiers).
"""

from django.db import models
from django.utils import timezone

from integrations.models import AdAccount, Workspace
from integrations.pinterest.identifiers import EMAIL, IDFA, MAID

LIST_TYPE_CHOICES = [(EMAIL, "Email"), (IDFA, "iOS IDFA"), (MAID, "Android advertising id")]

# Bits of SyncRecord.sent_types: which customer lists already have the record.
LIST_TYPE_BITS = {EMAIL: 1, IDFA: 2, MAID: 4}


class Audience(models.Model):
    """A step's audience, mapped to its Pinterest customer list(s) and audience.

    A new audience starts as a local draft; the first batch creates the
    customer list; the Pinterest audience is created once the list is READY
    (Pinterest refuses audiences under 100 matched users). An existing
    Pinterest audience is used through its rule.customer_list_id.
    """

    class Source(models.TextChoices):
        NEW = "new", "Created here"
        EXISTING = "existing", "Existing on Pinterest"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (waiting for the first users)"
        WAITING_FOR_LIST = "waiting", "Waiting for Pinterest to match 100 users"
        READY = "ready", "Ready on Pinterest"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audiences")
    ad_account = models.ForeignKey(AdAccount, on_delete=models.PROTECT, related_name="audiences")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.NEW)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    pinterest_audience_id = models.CharField(max_length=32, blank=True)
    pinterest_status = models.CharField(max_length=20, blank=True)
    pinterest_size = models.BigIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["ad_account", "name"], name="unique_audience_name_per_ad_account")]

    def __str__(self) -> str:
        return self.name


class AudienceList(models.Model):
    """One Pinterest customer list of an audience: one per identifier type."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="lists")
    list_type = models.CharField(max_length=8, choices=LIST_TYPE_CHOICES)
    pinterest_customer_list_id = models.CharField(max_length=32, blank=True)
    pinterest_status = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["audience", "list_type"], name="unique_list_type_per_audience")]

    def __str__(self) -> str:
        return f"{self.audience} {self.list_type} list"


class Canvas(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        STOPPED = "stopped", "Stopped"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="canvases")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(default=timezone.now)
    launched_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "canvases"

    def __str__(self) -> str:
        return self.name


class Step(models.Model):
    class Kind(models.TextChoices):
        AUDIENCE_SYNC = "audience_sync", "Audience Sync to Pinterest"
        DELAY = "delay", "Delay"

    class Action(models.TextChoices):
        ADD = "add", "Add users to the audience"
        REMOVE = "remove", "Remove users from the audience"

    canvas = models.ForeignKey(Canvas, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.AUDIENCE_SYNC)
    name = models.CharField(max_length=200, blank=True)
    # Audience Sync steps
    ad_account = models.ForeignKey(AdAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    audience = models.ForeignKey(Audience, null=True, blank=True, on_delete=models.SET_NULL, related_name="steps")
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.ADD)
    match_email = models.BooleanField("Email", default=True)
    match_idfa = models.BooleanField("iOS IDFA", default=False)
    match_android_aid = models.BooleanField("Android advertising id", default=False)
    # Delay steps
    delay_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["canvas", "position", "id"]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} #{self.position + 1}"

    @property
    def match_list_types(self) -> list[str]:
        types = []
        if self.match_email:
            types.append(EMAIL)
        if self.match_idfa:
            types.append(IDFA)
        if self.match_android_aid:
            types.append(MAID)
        return types


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
        indexes = [
            models.Index(fields=["step", "state"], name="syncrecord_step_state"),
            models.Index(fields=["state", "audience", "action", "next_attempt_at"], name="syncrecord_due"),
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

    audience = models.ForeignKey(Audience, null=True, on_delete=models.SET_NULL, related_name="send_logs")
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
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["audience", "-started_at"], name="sendlog_audience_recent")]


class StepCount(models.Model):
    """How many of a step's users are in one state, moved in the same transaction as the users.

    Sync steps count pending, synced, not_synced and errored; delay steps
    waiting, proceeded and exited. Reading a step's numbers is then a few
    rows whatever the number of users, and stays exact: every writer of
    SyncRecord and DelayRecord states adds to these counts in the transaction
    that changes the states (audiences.step_counts).
    """

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="counts", db_index=False)
    state = models.CharField(max_length=12)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["step", "state"], name="unique_step_count")]


class StepHour(models.Model):
    """Users of a step who entered, were synced and errored in one hour: the step's chart."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="hours", db_index=False)
    hour = models.DateTimeField()
    entered = models.BigIntegerField(default=0)
    synced = models.BigIntegerField(default=0)
    errored = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["step", "hour"], name="unique_step_hour")]


class StepLatency(models.Model):
    """A step's synced users whose time from entering to Pinterest fell in one histogram bucket.

    `bucket` indexes audiences.step_counts.LATENCY_BOUNDS (its length: longer
    than all); `seconds` sums those users' times. Written like StepCount.
    """

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="latencies", db_index=False)
    bucket = models.PositiveSmallIntegerField()
    n = models.BigIntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["step", "bucket"], name="unique_step_latency")]


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


# --- Trust and privacy: the audit log, the suppression list, removals and erasures ---------------


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
    to_admins = models.BooleanField(default=True, help_text="Also email the workspace's admins.")
    emails = models.JSONField(default=list, blank=True)
    webhook_url = models.URLField(blank=True)
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
