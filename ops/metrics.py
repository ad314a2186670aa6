"""Prometheus metrics, read from the database at scrape time.

Every web process, worker and machine writes the same tables, so a
collector that reads them when Prometheus scrapes gives the same answer
from any web process: multiprocess-safe with no shared files. When
PROMETHEUS_MULTIPROC_DIR is set, metrics that processes keep in that
directory (prometheus_client's multiprocess mode) are served too.

Labels carry workspace slugs, canvas and step ids, operations, outcomes and
states: never a token, an identifier or a Pinterest id.
"""

from __future__ import annotations

import os
from itertools import accumulate

from django.db.models import Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from audiences.models import RequestTotal, RetentionProgress, Step, StepCount, StepLatency
from audiences.sending import pump
from audiences.sending.pinterest import LIMITER_WAIT_BOUNDS
from audiences.step_counts import LATENCY_BOUNDS
from integrations.models import PinterestConnection
from ops import health

SYNC_STATES = ("pending", "synced", "not_synced", "errored")


class DatabaseCollector(Collector):
    def collect(self):
        yield from step_users()
        yield from entry_to_pinterest()
        yield from pinterest_requests()
        yield from limiter_waits()
        yield from retention()
        yield from backlog()
        yield from connections()

    def describe(self):
        return []  # collected at scrape time only


def step_users():
    """Users per workspace, canvas, step and state; `entered` is their sum for sync steps."""
    family = GaugeMetricFamily(
        "audience_sync_step_users",
        "Users of a step by state (sync steps: entered, pending, synced, not_synced, errored; delay steps: "
        "waiting, proceeded, exited). Entered = synced + not_synced + pending + errored.",
        labels=["workspace", "canvas", "step", "kind", "state"],
    )
    rows = StepCount.objects.values_list(
        "step_id", "step__canvas_id", "step__canvas__workspace__slug", "step__kind", "state", "n"
    )
    entered: dict[tuple, int] = {}
    seen: set[tuple] = set()
    for step_id, canvas_id, workspace, kind, state, n in rows:
        key = (workspace, str(canvas_id), str(step_id), kind)
        family.add_metric([*key, state], n)
        seen.add((key, state))
        if kind == Step.Kind.AUDIENCE_SYNC and state in SYNC_STATES:
            entered[key] = entered.get(key, 0) + n
    for key, n in entered.items():
        family.add_metric([*key, "entered"], n)
        for state in SYNC_STATES:  # a state nobody reached yet reads 0, not absent
            if (key, state) not in seen:
                family.add_metric([*key, state], 0)
    yield family


def _le(bound: float) -> str:
    return str(float(bound))


def entry_to_pinterest():
    """Seconds from entering the step to being synced, per synced user: a histogram per workspace, canvas and step."""
    family = HistogramMetricFamily(
        "audience_sync_entry_to_pinterest_seconds",
        "Seconds from a user entering a sync step to the sender recording them synced at Pinterest.",
        labels=["workspace", "canvas", "step"],
    )
    counts: dict[tuple, list[int]] = {}  # per bucket, not yet cumulative
    sums: dict[tuple, float] = {}
    for step_id, canvas_id, workspace, bucket, n, seconds in StepLatency.objects.values_list(
        "step_id", "step__canvas_id", "step__canvas__workspace__slug", "bucket", "n", "seconds"
    ):
        labels = (workspace, str(canvas_id), str(step_id))
        counts.setdefault(labels, [0] * (len(LATENCY_BOUNDS) + 1))[bucket] += n
        sums[labels] = sums.get(labels, 0.0) + seconds
    bounds = [*map(_le, LATENCY_BOUNDS), "+Inf"]
    for labels, per_bucket in counts.items():
        family.add_metric(list(labels), list(zip(bounds, accumulate(per_bucket), strict=True)), sum_value=sums[labels])
    yield family


def pinterest_requests():
    """Requests to Pinterest by operation, outcome and HTTP status, counted as each finishes (RequestTotal)."""
    requests = CounterMetricFamily(
        "audience_sync_pinterest_requests",
        "Requests to Pinterest by operation (ADD, REMOVE, CREATE_LIST), outcome (ok, retry, auth, failed) "
        "and HTTP status (none: no answer), counted when each finishes.",
        labels=["operation", "outcome", "status"],
    )
    records = CounterMetricFamily(
        "audience_sync_pinterest_records",
        "Records carried by requests to Pinterest, by operation and outcome.",
        labels=["operation", "outcome"],
    )
    sizes: dict[tuple, int] = {}
    for operation, outcome, status, n, size in (
        RequestTotal.objects.order_by().values_list("operation", "outcome", "http_status")
        .annotate(total=Sum("n"), size=Sum("records")).values_list("operation", "outcome", "http_status", "total", "size")
    ):
        requests.add_metric([operation, outcome, str(status) if status else "none"], n)
        sizes[(operation, outcome)] = sizes.get((operation, outcome), 0) + (size or 0)
    for (operation, outcome), size in sizes.items():
        records.add_metric([operation, outcome], size)
    yield requests
    yield records


def limiter_waits():
    """How long requests to Pinterest waited for the shared rate limit before leaving, by operation."""
    family = HistogramMetricFamily(
        "audience_sync_limiter_wait_seconds",
        "Seconds each request to Pinterest waited for the token's shared rate limit (and its turn) before leaving.",
        labels=["operation"],
    )
    per_bucket: dict[str, list[int]] = {}
    waited: dict[str, int] = {}
    for operation, bucket, n, waited_ms in (
        RequestTotal.objects.filter(wait_bucket__gte=0).order_by().values_list("operation", "wait_bucket")
        .annotate(total=Sum("n"), ms=Sum("waited_ms")).values_list("operation", "wait_bucket", "total", "ms")
    ):
        per_bucket.setdefault(operation, [0] * (len(LIMITER_WAIT_BOUNDS) + 1))[bucket] += n
        waited[operation] = waited.get(operation, 0) + (waited_ms or 0)
    bounds = [*map(_le, LIMITER_WAIT_BOUNDS), "+Inf"]
    for operation, counts in sorted(per_bucket.items()):
        family.add_metric([operation], list(zip(bounds, accumulate(counts), strict=True)),
                          sum_value=waited[operation] / 1000)
    yield family


def retention():
    """Whether deleting old rows keeps pace: the oldest finished row still kept, and rows deleted per run."""
    now = timezone.now()
    oldest = GaugeMetricFamily(
        "audience_sync_retention_oldest_kept_age_seconds",
        "Age of the oldest finished row still kept, per kind (sync records, send logs, ...); retention keeps it "
        "near RETENTION_DAYS. 0: none kept.",
        labels=["kind"],
    )
    last = GaugeMetricFamily("audience_sync_retention_last_run_deleted", "Rows the last retention run deleted.",
                             labels=["kind"])
    seconds = GaugeMetricFamily("audience_sync_retention_last_run_seconds", "How long the last retention run took.",
                                labels=["kind"])
    total = CounterMetricFamily("audience_sync_retention_deleted", "Rows retention has deleted.", labels=["kind"])
    behind = GaugeMetricFamily(
        "audience_sync_retention_behind",
        "1 when retention is behind: a finished row older than RETENTION_DAYS plus HEALTH_RETENTION_GRACE_SECONDS "
        "is still kept.",
        labels=["kind"],
    )
    for progress in RetentionProgress.objects.order_by("kind"):
        oldest.add_metric([progress.kind], health.retention_age_seconds(progress, now))
        last.add_metric([progress.kind], progress.last_deleted)
        seconds.add_metric([progress.kind], progress.last_run_seconds)
        total.add_metric([progress.kind], progress.deleted_total)
        behind.add_metric([progress.kind], 1 if health.retention_is_behind(progress, now) else 0)
    yield from (oldest, last, seconds, total, behind)


def backlog():
    now = timezone.now()
    work = health.work_list(now, count_due=True)
    yield GaugeMetricFamily("audience_sync_due_lists", "Audiences with users waiting to be sent (the work list).",
                            value=work.lists)
    yield GaugeMetricFamily("audience_sync_oldest_due_age_seconds",
                            "How long the longest-waiting due user has waited to be sent (0: nobody due).",
                            value=health.due_age_seconds(work.oldest_due, now))
    yield GaugeMetricFamily("audience_sync_senders_alive", "Sender pump slots held by a live pump.",
                            value=pump.alive())
    # Users in a retry's backoff are pending but not due yet; users of a workspace that
    # must reconnect are due and wait (see the connection state).
    due = GaugeMetricFamily(
        "audience_sync_due_records", "Users due to be sent to Pinterest now (pending, not in a retry's backoff).",
        labels=["workspace"],
    )
    for workspace, n in sorted(work.due_per_workspace.items()):
        due.add_metric([workspace], n)
    yield due


def connections():
    state = GaugeMetricFamily(
        "audience_sync_connection_state", "1 for the state each workspace's Pinterest connection is in.",
        labels=["workspace", "state"],
    )
    expires = GaugeMetricFamily(
        "audience_sync_connection_access_token_expires_in_seconds",
        "Seconds until the workspace's access token expires (negative: expired; it is refreshed before).",
        labels=["workspace"],
    )
    now = timezone.now()
    for workspace, status, expires_at in PinterestConnection.objects.values_list(
        "workspace__slug", "status", "access_token_expires_at"
    ):
        for value in PinterestConnection.Status.values:
            state.add_metric([workspace, value], 1 if value == status else 0)
        if expires_at is not None:
            expires.add_metric([workspace], (expires_at - now).total_seconds())
    yield state
    yield expires


def registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    return registry


def exposition() -> bytes:
    return generate_latest(registry())
