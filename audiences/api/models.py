"""The API's own table: each key's request counts for the rate limit (audiences.api.throttling)."""

from django.db import models


class ApiKeyRate(models.Model):
    """One API key's requests in the current rate window and in the one before it.

    Written by one atomic statement per request when the rate is counted in
    the database (no REDIS_URL); with Redis the same three numbers live there.
    """

    key = models.CharField(max_length=100, primary_key=True)  # the throttle's key: scope and the API key's prefix
    window_number = models.BigIntegerField()  # seconds since the epoch // the window's length
    current = models.PositiveIntegerField()
    previous = models.PositiveIntegerField()

    class Meta:
        verbose_name = "API key request count"
