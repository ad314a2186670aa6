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

from django.db.models import Count, Q, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from ops import health

SYNC_STATES = ("pending", "synced", "not_synced", "errored")
# Upper bounds (seconds) of the limiter-wait histogram's buckets; +Inf follows.
LIMITER_WAIT_BOUNDS = (0, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


class DatabaseCollector(Collector):
    def collect(self):
        yield from step_users()
        yield from entry_to_pinterest()
        yield from pinterest_requests()
        yield from limiter_waits()
        yield from backlog()
        yield from connections()

    def describe(self):
        return []  # collected at scrape time only


def step_users():
    """Users per workspace, canvas, step and state; `entered` is their sum for sync steps."""
    from audiences.models import Step, StepCount

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
    from audiences.models import StepLatency
    from audiences.step_counts import LATENCY_BOUNDS

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
    """Requests to Pinterest (one SendLog row each) by operation, outcome and HTTP status."""
    from audiences.models import SendLog

    requests = CounterMetricFamily(
        "audience_sync_pinterest_requests",
        "Requests to Pinterest by operation (ADD, REMOVE, CREATE_LIST), outcome (ok, retry, auth, failed, started) "
        "and HTTP status (none: no answer).",
        labels=["operation", "outcome", "status"],
    )
    records = CounterMetricFamily(
        "audience_sync_pinterest_records",
        "Records carried by requests to Pinterest, by operation and outcome.",
        labels=["operation", "outcome"],
    )
    sizes: dict[tuple, int] = {}
    for operation, outcome, status, n, size in (
        SendLog.objects.order_by().values_list("operation", "outcome", "http_status")
        .annotate(n=Count("id"), size=Sum("size"))
    ):
        requests.add_metric([operation, outcome, str(status) if status else "none"], n)
        sizes[(operation, outcome)] = sizes.get((operation, outcome), 0) + (size or 0)
    for (operation, outcome), size in sizes.items():
        records.add_metric([operation, outcome], size)
    yield requests
    yield records


def limiter_waits():
    """How long requests to Pinterest waited for the shared rate limit before leaving, by operation."""
    from audiences.models import SendLog

    family = HistogramMetricFamily(
        "audience_sync_limiter_wait_seconds",
        "Seconds each request to Pinterest waited for the token's shared rate limit (and its turn) before leaving.",
        labels=["operation"],
    )
    # One aggregate query: a conditional count per bucket (cumulative already), the sum and the count.
    buckets = {f"le{i}": Count("id", filter=Q(limiter_wait_ms__lte=bound * 1000))
               for i, bound in enumerate(LIMITER_WAIT_BOUNDS)}
    rows = (
        SendLog.objects.filter(limiter_wait_ms__isnull=False).order_by().values("operation")
        .annotate(n=Count("id"), waited_ms=Sum("limiter_wait_ms"), **buckets)
    )
    for row in rows:
        family.add_metric(
            [row["operation"]],
            [*((_le(bound), row[f"le{i}"]) for i, bound in enumerate(LIMITER_WAIT_BOUNDS)), ("+Inf", row["n"])],
            sum_value=(row["waited_ms"] or 0) / 1000,
        )
    yield family


def backlog():
    from audiences.sending import pump

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
    from integrations.models import PinterestConnection

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
