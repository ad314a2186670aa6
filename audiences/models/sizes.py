"""Pinterest's size of an audience each time it was read, so a page can show how it moved and when."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AudienceSize(models.Model):
    """One reading of an audience on Pinterest: its size (None before Pinterest gives one) and status."""

    audience = models.ForeignKey("audiences.Audience", on_delete=models.CASCADE, related_name="sizes", db_index=False)
    measured_at = models.DateTimeField(default=timezone.now)
    size = models.BigIntegerField(null=True, blank=True)
    pinterest_status = models.CharField(max_length=20, blank=True)
    # What had been sent into the audience when it was read: the ledger's member count, so each reading
    # can be put beside what it should reflect.
    members = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-measured_at", "-id"]
        indexes = [
            # An audience's readings newest first: one index range, whatever the number of audiences.
            models.Index(fields=["audience", "measured_at"], name="audiencesize_recent"),
        ]
