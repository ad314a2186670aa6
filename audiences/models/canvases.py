"""Canvases, their steps, and the audiences a step syncs into (with their Pinterest customer lists)."""

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
