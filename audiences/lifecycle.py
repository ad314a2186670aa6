"""The audience lifecycle on Pinterest's terms (API-NOTES 4.1, 7).

A new audience's customer lists are created by the first batch; Pinterest
only accepts a CUSTOMER_LIST audience once its list has about 100 matched
users, so this sweeper polls each list and creates the audience when the
list is READY. It also refreshes the status and size of ready audiences
and recreates an audience that was deleted on Pinterest (its list remains).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audiences.models import Audience, AudienceList
from integrations.models import PinterestConnection
from integrations.pinterest import client as pinterest
from integrations.services import ConnectionUnusable, with_pinterest

logger = logging.getLogger(__name__)

CHECK_READY_EVERY = timedelta(minutes=15)
# Checks share the Pinterest user's request budget with the sender: each sweep
# (once a minute) checks at most this many audiences per connection, those
# checked longest ago first, so a workspace with hundreds of audiences costs
# its sender a second or two a minute rather than a minute's budget.
MAX_CHECKS_PER_CONNECTION = 5


def audiences_sweep(*, force: bool = False) -> int:
    """Advance the audiences waiting on Pinterest, longest-unchecked first. Returns how many changed."""
    changed = 0
    now = timezone.now()
    audiences = (
        Audience.objects.select_related("ad_account__connection")
        .filter(ad_account__connection__status=PinterestConnection.Status.VALID)
        .exclude(status=Audience.Status.DRAFT)
        .order_by(F("checked_at").asc(nulls_first=True), "pk")
    )
    checks: dict[int, int] = {}
    for audience in audiences:
        if audience.status == Audience.Status.READY and not force:
            if audience.checked_at and audience.checked_at > now - CHECK_READY_EVERY:
                continue
        connection_id = audience.ad_account.connection_id
        if checks.get(connection_id, 0) >= MAX_CHECKS_PER_CONNECTION:
            continue
        checks[connection_id] = checks.get(connection_id, 0) + 1
        try:
            changed += audience_check(audience)
        except ConnectionUnusable:
            continue
        except pinterest.PinterestError as exc:
            logger.warning("checking audience %s failed: %s", audience.pk, exc)
    return changed


def audience_check(audience: Audience) -> int:
    """Read the lists and the audience on Pinterest; create or recreate the audience when allowed."""
    connection = audience.ad_account.connection
    ad_account_id = audience.ad_account.pinterest_id
    changed = 0
    lists = list(audience.lists.exclude(pinterest_customer_list_id=""))
    for customer_list in lists:
        remote = with_pinterest(connection, lambda c: c.customer_list_get(ad_account_id, customer_list.pinterest_customer_list_id))
        if remote.status != customer_list.pinterest_status:
            AudienceList.objects.filter(pk=customer_list.pk).update(pinterest_status=remote.status)
            customer_list.pinterest_status = remote.status
            changed += 1

    if audience.pinterest_audience_id:
        try:
            remote = with_pinterest(connection, lambda c: c.audience_get(ad_account_id, audience.pinterest_audience_id))
        except pinterest.NotFound:
            logger.warning("audience %s was deleted on Pinterest; it will be recreated", audience.pk)
            Audience.objects.filter(pk=audience.pk).update(
                pinterest_audience_id="",
                status=Audience.Status.WAITING_FOR_LIST,
                last_error="The audience was deleted on Pinterest; it is recreated from its customer list.",
                checked_at=timezone.now(),
            )
            audience.pinterest_audience_id = ""
            return changed + 1
        Audience.objects.filter(pk=audience.pk).update(
            pinterest_status=remote.status, pinterest_size=remote.size, status=Audience.Status.READY,
            checked_at=timezone.now(),
        )
        return changed + 1

    ready = next((l for l in lists if l.pinterest_status == "READY"), None)
    if ready is None:
        Audience.objects.filter(pk=audience.pk).update(checked_at=timezone.now())
        return changed
    created = with_pinterest(
        connection,
        lambda c: c.audience_create_from_list(
            ad_account_id, name=audience.name, customer_list_id=ready.pinterest_customer_list_id,
            description="Synced from customer journeys",
        ),
    )
    with transaction.atomic():
        Audience.objects.filter(pk=audience.pk).update(
            pinterest_audience_id=created.id,
            pinterest_status=created.status,
            pinterest_size=created.size,
            status=Audience.Status.READY,
            last_error="",
            checked_at=timezone.now(),
        )
    logger.info("audience %s created on Pinterest as %s", audience.pk, created.id)
    return changed + 1
