"""What an alert email says: the problem in plain words, what to do, where to look, and a real "resolved" message.

The webhook keeps its JSON (audiences.services.alerts.payload_of); a person
reads sentences. Links are absolute, from the SITE_URL setting.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from audiences.models import AlertDelivery, Incident
from audiences.services.alert_recipients import recipients_of

Kind = Incident.Kind

# kind -> what to do, for the opening mail
NEXT_STEP = {
    Kind.CONNECTION_INVALID: "Open the workspace's Pinterest page and click Reconnect. Users wait as pending meanwhile; "
                             "nothing is lost.",
    Kind.AD_ACCOUNT_UNAVAILABLE: "Reconnect Pinterest as a user who can see the ad account, or choose another ad "
                                 "account in the steps that use it.",
    Kind.STEP_ERRORED: "Open the step's analytics: its errored users are grouped by cause, each with what to do and "
                       "a retry button.",
    Kind.AUDIENCE_DELETED: "Nothing: the audience is recreated from its customer list. Check Pinterest Ads Manager "
                           "if it was deleted on purpose.",
}


def moment(value) -> str:
    return timezone.localtime(value).strftime("%-d %b %Y, %H:%M %Z") if value else ""


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def incident_path(incident: Incident) -> str:
    """Where the incident's problem can be seen and fixed (a path on this site)."""
    if incident.key.startswith("step:"):
        return reverse("admin:audiences_step_analytics", args=[int(incident.key.split(":", 1)[1])]) + "#errored-users"
    if incident.key == "connection" or incident.key.startswith("ad_account:"):
        return reverse("integrations:partner", args=[incident.workspace.slug])
    return reverse("admin:audiences_canvas_overview")


def incident_link(incident: Incident) -> str:
    return absolute(incident_path(incident))


def mail_of(delivery: AlertDelivery) -> tuple[str, str]:
    """(subject, body) of one alert email."""
    incident = delivery.incident
    workspace = incident.workspace
    link = incident_link(incident)
    if delivery.event == AlertDelivery.Event.RESOLVED:
        subject = f"[{workspace}] Resolved: {incident.get_kind_display()}"
        body = (f"This problem in {workspace} is over:\n\n  {incident.summary}\n\n"
                f"It began {moment(incident.opened_at)} and was resolved {moment(incident.resolved_at)}. "
                "Nothing more is needed.\n\n"
                f"See it: {link}\n")
    else:
        subject = f"[{workspace}] {incident.get_kind_display()}"
        body = (f"{incident.summary}\n\n"
                f"What to do: {NEXT_STEP.get(incident.kind, 'Open the link below to see what happened.')}\n\n"
                f"Open it: {link}\n\n"
                f"Noticed {moment(incident.opened_at)}. You will get one more email when it is resolved.\n")
    body += ("\n--\nYou receive this as a member of the workspace. Turn alert emails off for yourself at the foot of "
             f"the overview: {absolute(reverse('admin:audiences_canvas_overview'))}\n")
    return subject, body


def alert_test_send(*, workspace) -> list[str]:
    """Send a test email now to everyone an alert of the workspace would reach; returns the addresses."""
    addresses = [recipient for channel, recipient in recipients_of(workspace.pk) if channel == "email"]
    body = (f"This is a test alert for {workspace}: alerts reach you. Nothing is wrong.\n\n"
            f"When something needs you, an email like this says what happened, what to do and where: "
            f"{absolute(reverse('admin:audiences_canvas_overview'))}\n")
    for address in addresses:
        send_mail(f"[{workspace}] Test alert", body, None, [address])
    return addresses
