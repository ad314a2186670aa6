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

from django.db.models import Count, Sum
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ops import health

SYNC_STATES = ("pending", "synced", "not_synced", "errored")


class DatabaseCollector(Collector):
    def collect(self):
        yield from step_users()
        yield from pinterest_requests()
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


def backlog():
    from audiences.sending import pump

    now = timezone.now()
    oldest, lists = health.oldest_due(now)
    yield GaugeMetricFamily("audience_sync_due_lists", "Audiences with users waiting to be sent (the work list).",
                            value=lists)
    yield GaugeMetricFamily("audience_sync_oldest_due_age_seconds",
                            "How long the longest-waiting due user has waited to be sent (0: nobody due).",
                            value=health.due_age_seconds(oldest, now))
    yield GaugeMetricFamily("audience_sync_senders_alive", "Sender pump slots held by a live pump.",
                            value=pump.alive())


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
