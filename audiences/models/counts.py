"""A step's numbers kept as running totals, so reading them costs the same at any history's length."""

from django.db import models

from audiences.models.canvases import LIST_TYPE_CHOICES, Audience, Step


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


class StepSent(models.Model):
    """A step's synced users who carried one identifier type, moved with the records (audiences.step_counts).

    What the analytics page shows per type, read from a few rows instead of
    counting the step's records (which retention deletes). Users sent back to
    pending because their list was deleted at Pinterest are taken off again.
    """

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="sent_types", db_index=False)
    list_type = models.CharField(max_length=8, choices=LIST_TYPE_CHOICES)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["step", "list_type"], name="unique_step_sent")]


class AudienceMemberCount(models.Model):
    """How many users the ledger holds as members of an audience, moved with the ledger in its transaction."""

    audience = models.OneToOneField(Audience, on_delete=models.CASCADE, primary_key=True, related_name="+")
    users = models.BigIntegerField(default=0)


class RequestTotal(models.Model):
    """Requests to Pinterest counted as each one finishes: /metrics reads these few rows, never the send log.

    Keyed by operation, outcome, HTTP status (0: no answer) and the bucket of
    ops.metrics.LIMITER_WAIT_BOUNDS the request's wait for the rate limit fell
    in (-1: it never reached the limiter). The send log itself is deleted by
    retention; these totals are kept, so the counters never go down.
    """

    operation = models.CharField(max_length=20)
    outcome = models.CharField(max_length=10)
    http_status = models.PositiveSmallIntegerField(default=0)
    wait_bucket = models.SmallIntegerField(default=-1)
    n = models.BigIntegerField(default=0)
    records = models.BigIntegerField(default=0)
    waited_ms = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["operation", "outcome", "http_status", "wait_bucket"],
                                    name="unique_request_total")
        ]
