"""A member's own choice to receive alert emails or not: the only writer of Membership.alerts_off."""

from __future__ import annotations

from integrations.models import Membership


def membership_alerts_set(*, membership: Membership, on: bool) -> Membership:
    """Turn the member's alert emails on or off (their own choice; the workspace's settings stay as they are)."""
    Membership.objects.filter(pk=membership.pk).update(alerts_off=not on)
    membership.alerts_off = not on
    return membership
