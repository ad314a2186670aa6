"""Retention keeps pace with entry: one scheduled run deletes a whole backlog, and falling behind shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from audiences import metrics, services, tasks
from audiences.admin import figures
from audiences.models import DelayRecord, SendLog, SyncRecord
from audiences.sending.pump import send_due_now
from tests.conftest import make_users
from tests.test_ops_metrics import pick, scrape

pytestmark = pytest.mark.django_db

OLD = timedelta(days=40)


def step_figures(step) -> dict:
    """Everything a marketer reads about the step: the seven numbers, the chart, times to Pinterest, per type."""
    return {
        "numbers": metrics.step_metrics(step),
        "chart": metrics.step_hourly_series(step, hours=24 * 45),
        "time_to_pinterest": metrics.time_to_pinterest(step),
        "per_type": figures.sent_per_type(step),
        "members": metrics.audience_member_count(step.audience_id),
    }


def test_it_deletes_a_backlog_of_many_batches_in_one_scheduled_run(sandbox, add_canvas):
    step = add_canvas.steps.get()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        for start in range(0, 12_000, 4_000):  # no email: not synced, finished at once
            services.users_enter(canvas=add_canvas, users=make_users(4_000, start=start, email=False))
        services.users_enter(canvas=add_canvas, users=make_users(30, start=20_000, idfa=True))
        send_due_now()
    services.users_enter(canvas=add_canvas, users=make_users(5, start=40_000))
    send_due_now()
    with time_machine.travel(timezone.now() - OLD, tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(3, start=30_000))  # pending: kept
    before = step_figures(step)
    assert before["numbers"].entered == 12_038 and before["numbers"].synced == 35
    assert SyncRecord.objects.count() == 12_038

    deleted = tasks.retention()  # what the schedule runs every minute

    assert deleted >= 12_030
    cutoff = timezone.now() - timedelta(days=30)
    old_finished = SyncRecord.objects.filter(entered_at__lt=cutoff).exclude(state__in=["pending", "errored"])
    assert not old_finished.exists()
    assert SyncRecord.objects.filter(state="pending").count() == 3
    assert SyncRecord.objects.filter(state="synced").count() == 5  # the recent ones
    assert not SendLog.objects.filter(started_at__lt=cutoff).exists()
    assert step_figures(step) == before  # figures, chart, histogram, per type and members: all unchanged


def test_it_says_in_metrics_and_healthz_when_retention_falls_behind(settings, sandbox, add_canvas):
    with time_machine.travel(timezone.now() - OLD, tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(50, email=False))
    settings.RETENTION_RUN_SECONDS = 1e-9  # a run that has no time to delete anything

    tasks.retention()

    behind = pick(scrape(), "audience_sync_retention_behind")
    assert behind[(("kind", "sync_records"),)] == 1
    oldest = pick(scrape(), "audience_sync_retention_oldest_kept_age_seconds")[(("kind", "sync_records"),)]
    assert oldest > 39 * 86400
    response = Client().get("/healthz")
    assert response.status_code == 503
    check = response.json()["checks"]["retention"]
    assert check["status"] == "fail" and check["behind"] == ["sync_records"]

    settings.RETENTION_RUN_SECONDS = 45
    tasks.retention()

    assert pick(scrape(), "audience_sync_retention_behind")[(("kind", "sync_records"),)] == 0
    assert pick(scrape(), "audience_sync_retention_last_run_deleted")[(("kind", "sync_records"),)] == 50
    assert pick(scrape(), "audience_sync_retention_deleted_total")[(("kind", "sync_records"),)] == 50
    assert Client().get("/healthz").json()["checks"]["retention"]["status"] == "ok"


def test_it_deletes_delay_records_of_users_who_moved_on_and_keeps_those_still_waiting(sandbox, acme, ad_account):
    canvas = services.canvas_create(workspace=acme, name="Wait, then sync")
    services.step_create_delay(canvas=canvas, seconds=3600)
    audience = services.audience_create_draft(workspace=acme, ad_account=ad_account, name="After the wait")
    services.step_create_audience_sync(canvas=canvas, ad_account=ad_account, audience=audience)
    services.canvas_launch(canvas=canvas)
    with time_machine.travel(timezone.now() - OLD, tick=False):
        services.users_enter(canvas=canvas, users=make_users(4))
    with time_machine.travel(timezone.now() - OLD + timedelta(hours=2), tick=False):
        services.delays_advance()
    services.users_enter(canvas=canvas, users=make_users(2, start=10))  # waiting now: kept
    delay = canvas.steps.get(kind="delay")
    numbers = metrics.step_metrics(delay)

    deleted = services.retention_purge()

    assert deleted["delay_records"] == 4
    assert DelayRecord.objects.filter(step=delay).count() == 2
    assert metrics.step_metrics(delay) == numbers


def test_the_send_log_metrics_stay_when_the_send_log_goes(sandbox, add_canvas):
    with time_machine.travel(timezone.now() - OLD, tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(5))
        send_due_now()
    requests_before = pick(scrape(), "audience_sync_pinterest_requests_total", operation="CREATE_LIST")
    assert sum(requests_before.values()) >= 1

    services.retention_purge()

    assert not SendLog.objects.exists()
    assert pick(scrape(), "audience_sync_pinterest_requests_total", operation="CREATE_LIST") == requests_before
