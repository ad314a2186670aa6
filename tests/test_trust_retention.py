"""Retention: old finished records and send logs go, in small batches, and every figure stays exact."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from audiences import services
from audiences.metrics import step_hourly_series, step_metrics
from audiences.models import AuditEvent, SendLog, SyncRecord
from audiences.sending.pump import send_due_now
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def test_old_records_go_and_the_figures_and_chart_stay_exact(sandbox, acme, add_canvas):
    step = add_canvas.steps.get()
    services.suppression_add(workspace=acme, entries=[{"external_id": "user-4"}])
    old = timezone.now() - timedelta(days=40)
    with time_machine.travel(old, tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(5) + [{"external_id": "no-email"}])
    send_due_now()
    SendLog.objects.update(started_at=old)
    services.users_enter(canvas=add_canvas, users=make_users(2, start=20))
    send_due_now()
    with time_machine.travel(old, tick=False):
        services.users_enter(canvas=add_canvas, users=make_users(2, start=10))  # still pending: kept
    numbers, chart = step_metrics(step), step_hourly_series(step, hours=24 * 45)
    assert (numbers.entered, numbers.synced, numbers.not_synced, numbers.pending) == (10, 6, 2, 2)
    assert SyncRecord.objects.count() == 10

    deleted = services.retention_purge()

    assert deleted["sync_records"] == 6 and deleted["send_logs"] >= 1
    assert set(SyncRecord.objects.values_list("external_id", flat=True)) == {"user-10", "user-11", "user-20",
                                                                             "user-21"}
    assert SendLog.objects.exists()  # the recent ones
    assert step_metrics(step) == numbers
    assert step_hourly_series(step, hours=24 * 45) == chart
    assert services.retention_purge() == {"sync_records": 0, "delay_records": 0, "send_logs": 0,
                                          "audit_events": 0, "privacy_requests": 0}


def test_the_age_is_a_setting_and_pending_and_errored_records_stay(settings, sandbox, add_canvas):
    settings.RETENTION_DAYS = 1
    services.users_enter(canvas=add_canvas, users=make_users(3))
    services.records_error_expired(now=timezone.now() + timedelta(hours=14))
    with time_machine.travel(timezone.now() + timedelta(days=3), tick=False):
        assert services.retention_purge()["sync_records"] == 0
    assert SyncRecord.objects.filter(state="errored").count() == 3


def test_audit_events_are_kept_longer(settings, sandbox, add_canvas):
    settings.AUDIT_RETENTION_DAYS = 365
    AuditEvent.objects.update(at=timezone.now() - timedelta(days=100))
    assert services.retention_purge()["audit_events"] == 0
    AuditEvent.objects.update(at=timezone.now() - timedelta(days=400))
    assert services.retention_purge()["audit_events"] >= 1


def test_the_command_purges_now(sandbox):
    out = StringIO()
    call_command("retention_purge", stdout=out)
    assert "sync records" in out.getvalue()
