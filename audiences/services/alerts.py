"""Alerts: the only writer of AlertSettings, Incident and AlertDelivery.

A sweeper (`alerts_check`, every minute) compares what is wrong now with
the open incidents: a new problem opens an incident, a problem gone
resolves it. Opening and resolving each write one delivery per recipient in
the same transaction, and the one-open-incident-per-key constraint makes a
second sweeper's attempt fail, so each recipient hears once per incident
and once when it is resolved, never per batch or per thread.

Deliveries are email through Django's mail backend and a webhook signed
with HMAC-SHA256 over "<timestamp>.<body>" (headers X-Alert-Timestamp and
X-Alert-Signature: sha256=<hex>), retried with exponential backoff up to
MAX_ATTEMPTS times. Alerts are on by default, to the workspace's admins.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from audiences.models import (
    AlertDelivery,
    AlertSettings,
    Audience,
    Incident,
    Step,
    StepCount,
    SyncRecord,
)
from audiences.services.alert_mail import mail_of
from audiences.services.alert_recipients import recipients_of
from audiences.services.audit import audit_record
from audiences.services.errors import ServiceError
from audiences.services.webhooks import (
    COULD_NOT_CONNECT,
    WebhookFailed,
    WebhookRefused,
    webhook_post,
    webhook_url_validate,
)
from integrations.models import PinterestConnection, Workspace

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
WEBHOOK_TIMEOUT_SECONDS = 10
CLAIM_SECONDS = 60
DELETED_ON_PINTEREST = "The audience was deleted on Pinterest"
Kind = Incident.Kind


# --- Settings ------------------------------------------------------------------------------------


def alert_settings_of(workspace: Workspace) -> AlertSettings:
    """The workspace's settings (the defaults, unsaved, when it never chose)."""
    return AlertSettings.objects.filter(workspace=workspace).first() or AlertSettings(workspace=workspace)


def alert_settings_update(*, workspace: Workspace, enabled: bool | None = None, to_admins: bool | None = None,
                          emails: Sequence[str] | None = None, webhook_url: str | None = None,
                          errored_threshold: int | None = None, new_secret: bool = False) -> AlertSettings:
    """Change who is told; arguments left out keep their value. A webhook gets a signing secret when first set."""
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator, validate_email

    with transaction.atomic():
        row, _ = AlertSettings.objects.select_for_update().get_or_create(workspace=workspace)
        if emails is not None:
            cleaned = []
            for address in emails:
                try:
                    validate_email(address)
                except ValidationError:
                    raise ServiceError(f"{address!r} is not an email address.") from None
                cleaned.append(address.strip().lower())
            row.emails = sorted(set(cleaned))
        if webhook_url is not None:
            if webhook_url:
                try:
                    URLValidator(schemes=["https", "http"])(webhook_url)
                except ValidationError:
                    raise ServiceError("The webhook URL must be an http(s) URL.") from None
                webhook_url_validate(webhook_url)  # and again before every call
            row.webhook_url = webhook_url
        if enabled is not None:
            row.enabled = enabled
        if to_admins is not None:
            row.to_admins = to_admins
        if errored_threshold is not None:
            if errored_threshold < 1:
                raise ServiceError("The errored threshold is at least 1.")
            row.errored_threshold = errored_threshold
        if new_secret or (row.webhook_url and not row.webhook_secret):
            row.webhook_secret = secrets.token_hex(32)
        row.save()
        audit_record(workspace=workspace, action="alerts.update", target="alert settings",
                     details={"emails": len(row.emails), "webhook": bool(row.webhook_url),
                              # where alerts go, never the whole URL (it may carry a token) nor the secret
                              "webhook_host": urlsplit(row.webhook_url).hostname or "", "enabled": row.enabled,
                              "to_admins": row.to_admins, "errored_threshold": row.errored_threshold})
    return row


# --- Incidents -----------------------------------------------------------------------------------


def _problems() -> dict[tuple[int, str], tuple[str, str]]:
    """(workspace id, key) -> (kind, summary) of everything wrong now."""
    found: dict[tuple[int, str], tuple[str, str]] = {}
    for workspace_id, error in PinterestConnection.objects.filter(
            status=PinterestConnection.Status.INVALID).values_list("workspace_id", "last_error"):
        found[(workspace_id, "connection")] = (Kind.CONNECTION_INVALID,
                                               f"The Pinterest connection needs reconnecting: {error}".strip())
    in_use = Step.objects.filter(canvas__status="active", kind=Step.Kind.AUDIENCE_SYNC, ad_account__enabled=False)
    for workspace_id, pinterest_id in in_use.values_list("canvas__workspace_id", "ad_account__pinterest_id"):
        found[(workspace_id, f"ad_account:{pinterest_id}")] = (
            Kind.AD_ACCOUNT_UNAVAILABLE, f"Ad account {pinterest_id} is used by an active canvas but unavailable.")
    thresholds = dict(AlertSettings.objects.values_list("workspace_id", "errored_threshold"))
    default = AlertSettings._meta.get_field("errored_threshold").default
    for step_id, workspace_id, n, step_name, position, canvas in StepCount.objects.filter(
            state=SyncRecord.State.ERRORED, n__gt=0).values_list(
            "step_id", "step__canvas__workspace_id", "n", "step__name", "step__position", "step__canvas__name"):
        if n >= thresholds.get(workspace_id, default):
            step = f"“{step_name}”" if step_name else f"step {position + 1}"
            found[(workspace_id, f"step:{step_id}")] = (
                Kind.STEP_ERRORED, f"Canvas “{canvas}”, {step}: {n:,} errored users Pinterest did not take.")
    for audience_id, workspace_id, name in Audience.objects.filter(
            pinterest_audience_id="", last_error__startswith=DELETED_ON_PINTEREST).values_list(
            "pk", "workspace_id", "name"):
        found[(workspace_id, f"audience:{audience_id}")] = (
            Kind.AUDIENCE_DELETED, f"Audience “{name}” was deleted on Pinterest; it is being recreated.")
    from audiences.services.sources import segment_problems  # segments' own problems: failed sources, waiting snapshots

    found.update(segment_problems())
    return found


def alerts_check(*, now: datetime | None = None) -> tuple[int, int]:
    """Open incidents for new problems, resolve those gone, deliver what is due. Returns (opened, resolved)."""
    now = now or timezone.now()
    problems = _problems()
    open_incidents = {(i.workspace_id, i.key): i for i in Incident.objects.filter(resolved_at__isnull=True)}
    opened = resolved = 0
    for (workspace_id, key), (kind, summary) in sorted(problems.items()):
        if (workspace_id, key) in open_incidents:
            continue
        try:
            with transaction.atomic():
                incident = Incident.objects.create(workspace_id=workspace_id, kind=kind, key=key, summary=summary,
                                                   opened_at=now)
                _deliveries(incident, AlertDelivery.Event.OPENED, now)
            opened += 1
        except IntegrityError:
            continue  # another sweeper opened it first, and alerts for it
    for (workspace_id, key), incident in open_incidents.items():
        if (workspace_id, key) in problems:
            continue
        with transaction.atomic():
            if Incident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(resolved_at=now):
                incident.resolved_at = now
                _deliveries(incident, AlertDelivery.Event.RESOLVED, now)
                resolved += 1
    alerts_deliver(now=now)
    return opened, resolved


def _deliveries(incident: Incident, event: str, now: datetime) -> None:
    AlertDelivery.objects.bulk_create([
        AlertDelivery(incident=incident, event=event, channel=channel, recipient=recipient, next_attempt_at=now)
        for channel, recipient in recipients_of(incident.workspace_id)
    ])


# --- Delivering ----------------------------------------------------------------------------------


def alerts_deliver(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send the due deliveries; a failure is retried with backoff. Returns how many were sent."""
    now = now or timezone.now()
    sent = 0
    due = AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING, next_attempt_at__lte=now)
    for delivery in list(due.select_related("incident__workspace").order_by("next_attempt_at")[:limit]):
        if not AlertDelivery.objects.filter(pk=delivery.pk, status=AlertDelivery.Status.PENDING,
                                            next_attempt_at=delivery.next_attempt_at).update(
                next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)):
            continue  # another worker has it
        try:
            _send(delivery)
        except Exception as exc:  # noqa: BLE001 - any failure of a recipient is retried, never raised
            attempts = delivery.attempts + 1
            wait = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
            error = _generic_error(delivery, exc)
            AlertDelivery.objects.filter(pk=delivery.pk).update(
                attempts=attempts, last_error=error, next_attempt_at=now + timedelta(seconds=wait),
                status=AlertDelivery.Status.FAILED if attempts >= MAX_ATTEMPTS else AlertDelivery.Status.PENDING,
            )
            logger.info("alert delivery %s failed (attempt %d): %s", delivery.pk, attempts, error)
            continue
        AlertDelivery.objects.filter(pk=delivery.pk).update(status=AlertDelivery.Status.SENT, sent_at=timezone.now(),
                                                            attempts=delivery.attempts + 1, last_error="")
        sent += 1
    return sent


def _generic_error(delivery: AlertDelivery, exc: Exception) -> str:
    """What the delivery shows: the status code or "could not connect", never a library's words.

    "Connection refused" against "answered 307" would tell an open port
    from a closed one: with the webhook's URL that makes a port scanner.
    """
    if isinstance(exc, (WebhookFailed, WebhookRefused)):
        return str(exc)
    return "could not send the email" if delivery.channel == "email" else COULD_NOT_CONNECT


def payload_of(delivery: AlertDelivery) -> dict:
    incident = delivery.incident
    return {
        "workspace": incident.workspace.slug, "incident": incident.pk, "kind": incident.kind, "key": incident.key,
        "event": delivery.event, "summary": incident.summary, "opened_at": incident.opened_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What X-Alert-Signature carries: sha256=<HMAC-SHA256 of "timestamp.body" with the workspace's secret>."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _send(delivery: AlertDelivery) -> None:
    payload = payload_of(delivery)
    if delivery.channel == "email":
        subject, body = mail_of(delivery)  # sentences for a person; the webhook keeps the JSON
        send_mail(subject, body, None, [delivery.recipient])
        return
    row = AlertSettings.objects.get(workspace_id=delivery.incident.workspace_id)
    # The delivery's id is in the signed body and in a header: the same on every retry of this delivery, so a
    # receiver can drop a repeat (a call answered but recorded as failed is sent again).
    payload["delivery_id"] = str(delivery.pk)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    # Checked again here, not only when saved: the row may have been written otherwise, or the name re-pointed.
    status = webhook_post(delivery.recipient, body=body, timeout=WEBHOOK_TIMEOUT_SECONDS, headers={
        "Content-Type": "application/json", "X-Alert-Delivery-Id": str(delivery.pk), "X-Alert-Timestamp": timestamp,
        "X-Alert-Signature": signature(row.webhook_secret, timestamp, body)})
    if not 200 <= status < 300:
        raise WebhookFailed(f"the webhook answered {status}")
