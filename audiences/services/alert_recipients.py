"""Who an alert of a workspace reaches: its alert settings' addresses and webhook, and its members who want them.

Read by the alerts (audiences.services.alerts) and by the test alert
(audiences.services.alert_mail); it writes nothing.
"""

from __future__ import annotations

from audiences.models import AlertSettings
from integrations.models import Membership


def recipients_of(workspace_id: int) -> list[tuple[str, str]]:
    """(channel, recipient) pairs an alert of the workspace goes to now."""
    row = AlertSettings.objects.filter(workspace_id=workspace_id).first() or AlertSettings()
    if not row.enabled:
        return []
    emails = set(row.emails)
    if row.to_admins:
        # The workspace's admins and marketers, unless a member turned alert emails off for themself.
        emails |= {address.lower() for address in Membership.objects.filter(
            workspace_id=workspace_id, role__in=(Membership.Role.ADMIN, Membership.Role.MARKETER), alerts_off=False,
            user__is_active=True).values_list("user__email", flat=True) if address}
    found = [("email", address) for address in sorted(emails)]
    if row.webhook_url:
        found.append(("webhook", row.webhook_url))
    return found
