"""Audiences: the only writer of Audience and AudienceList, and their life on Pinterest.

A new audience starts as a local draft (its name reserved at once); the
sender's first batch creates its customer list (`customer_list_created`
below hears of it); Pinterest only accepts a CUSTOMER_LIST audience once the
list has about 100 matched users, so `audiences_sweep` polls the lists and
creates the audience when one is READY (API-NOTES 4.1, 7). It also refreshes
the status and size of ready audiences and recreates an audience deleted on
Pinterest (its list remains). An existing Pinterest audience is used
through its rule.customer_list_id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audiences.models import Audience, AudienceList
from audiences.sending import ledger, retrying
from audiences.sending import pinterest as to_pinterest
from audiences.services.errors import ServiceError
from audiences.services.sizes import audience_size_record
from integrations.models import AdAccount, PinterestConnection, Workspace
from integrations.pinterest.identifiers import EMAIL

logger = logging.getLogger(__name__)

AUDIENCE_NAME_MAX_LENGTH = 100  # what Pinterest's Ads Manager accepts for an audience name


def check_ad_account(workspace: Workspace, ad_account: AdAccount | None) -> None:
    if ad_account is None:
        return
    if ad_account.connection.workspace_id != workspace.pk:
        raise ServiceError("That ad account does not belong to this workspace.")
    if not ad_account.enabled:
        raise ServiceError(f"Ad account {ad_account} is not enabled for this workspace.")


@dataclass(frozen=True)
class AudienceChoice:
    """Which audience a step syncs: exactly one of the three is set.

    pinterest_audience_id: an existing audience on Pinterest (read and remembered);
    new_name: a new audience, reserved now and created on Pinterest with the first users;
    audience_id: an audience this workspace already uses (e.g. the add step's, for a remove step).
    """

    pinterest_audience_id: str = ""
    new_name: str = ""
    audience_id: int | None = None


def audience_create_draft(*, workspace: Workspace, ad_account: AdAccount, name: str) -> Audience:
    """Reserve a new audience name at once; Pinterest objects follow with the first batch."""
    name = (name or "").strip()
    check_ad_account(workspace, ad_account)
    if not name:
        raise ServiceError("The audience needs a name.")
    if len(name) > AUDIENCE_NAME_MAX_LENGTH:
        raise ServiceError(f"Audience names are at most {AUDIENCE_NAME_MAX_LENGTH} characters.")
    if Audience.objects.filter(ad_account=ad_account, name__iexact=name).exists():
        raise ServiceError(f"An audience named “{name}” already exists in this ad account.")
    return Audience.objects.create(workspace=workspace, ad_account=ad_account, name=name)


def audience_use_existing(*, workspace: Workspace, ad_account: AdAccount, pinterest_audience_id: str) -> Audience:
    """Use an audience that exists on Pinterest, through its rule.customer_list_id (read it outside a transaction)."""
    check_ad_account(workspace, ad_account)
    found = Audience.objects.filter(ad_account=ad_account, pinterest_audience_id=pinterest_audience_id).first()
    if found:
        return found
    remote, customer_list = to_pinterest.existing_audience(ad_account, pinterest_audience_id)
    if remote.audience_type != "CUSTOMER_LIST" or customer_list is None:
        raise ServiceError("Only customer-list audiences can be synced; pick another audience or create a new one.")
    with transaction.atomic():
        audience = Audience.objects.create(
            workspace=workspace,
            ad_account=ad_account,
            name=remote.name,
            source=Audience.Source.EXISTING,
            status=Audience.Status.READY if remote.status == "READY" else Audience.Status.WAITING_FOR_LIST,
            pinterest_audience_id=remote.id,
            pinterest_status=remote.status,
            pinterest_size=remote.size,
        )
        # Every identifier type goes into the list the audience wraps, whatever type it declares.
        AudienceList.objects.create(
            audience=audience, list_type=EMAIL, pinterest_customer_list_id=customer_list.id,
            pinterest_status=customer_list.status,
        )
    return audience


def audience_resolve(*, workspace: Workspace, ad_account: AdAccount | None, choice: AudienceChoice) -> Audience:
    """The audience a choice names. An existing Pinterest audience is read from Pinterest (call outside a transaction)."""
    if choice.audience_id is not None:
        audience = Audience.objects.filter(workspace=workspace, pk=choice.audience_id).first()
        if audience is None:
            raise ServiceError(f"No audience {choice.audience_id} in this workspace.")
        return audience
    if ad_account is None:
        raise ServiceError("Choose the step's ad account before its audience.")
    if choice.new_name:
        return audience_create_draft(workspace=workspace, ad_account=ad_account, name=choice.new_name)
    try:
        return audience_use_existing(
            workspace=workspace, ad_account=ad_account, pinterest_audience_id=choice.pinterest_audience_id
        )
    except to_pinterest.Missing:
        raise ServiceError(
            f"Ad account {ad_account.pinterest_id} has no audience {choice.pinterest_audience_id} on Pinterest."
        ) from None


def prefetch_existing(workspace: Workspace, ad_account: AdAccount | None, choice) -> Audience | None:
    """An existing Pinterest audience, read before the caller's transaction (no lock held over the network)."""
    if isinstance(choice, AudienceChoice) and choice.pinterest_audience_id:
        return audience_resolve(workspace=workspace, ad_account=ad_account, choice=choice)
    return None


def customer_list_created(sender, *, audience_id: int, customer_list_id: str, status: str, **kwargs) -> None:
    """The sender made the audience's customer list with its first batch (connected in AudiencesConfig.ready)."""
    with transaction.atomic():
        AudienceList.objects.update_or_create(
            audience_id=audience_id, list_type=EMAIL,
            defaults={"pinterest_customer_list_id": customer_list_id, "pinterest_status": status},
        )
        Audience.objects.filter(pk=audience_id, status=Audience.Status.DRAFT).update(
            status=Audience.Status.WAITING_FOR_LIST
        )


LIST_DELETED_ON_PINTEREST = (
    "The audience's customer list was deleted on Pinterest; a new list and audience are made from its users."
)


def customer_list_missing(sender, *, audience_id: int, **kwargs) -> None:
    """The sender found the audience's list gone at Pinterest (connected in AudiencesConfig.ready).

    The audience that wrapped it targets nobody any more: both are forgotten
    here, the users who had been added are due again (the page counts them
    as pending, which is what Pinterest holds), the next batch makes a new
    list, and the sweeper a new audience once the list is READY.
    """
    with transaction.atomic():
        AudienceList.objects.filter(audience_id=audience_id).delete()
        Audience.objects.filter(pk=audience_id).update(
            pinterest_audience_id="", pinterest_status="", pinterest_size=None,
            status=Audience.Status.DRAFT, last_error=LIST_DELETED_ON_PINTEREST, checked_at=timezone.now(),
        )
        ledger.forget_audience(audience_id)
        retrying.resend_added(audience_id=audience_id, now=timezone.now())
    logger.warning("the customer list of audience %s was deleted on Pinterest; a new one will be made", audience_id)


# --- Reading Pinterest's audiences -------------------------------------------------------------------

# Pinterest's audiences/list has no name filter, so a search reads pages of
# up to 250 and filters them here; this bounds the pages read per call.
MAX_PAGES_PER_SEARCH = 8


@dataclass(frozen=True)
class AudiencePage:
    items: list[to_pinterest.RemoteAudience]
    next_bookmark: str | None


def pinterest_audiences_search(*, ad_account: AdAccount, search: str = "", bookmark: str | None = None,
                               limit: int = 25) -> AudiencePage:
    """Existing Pinterest audiences of an ad account whose name contains `search`, a page at a time.

    `next_bookmark` continues the search where this page stopped (None at the end).
    """
    needle = search.strip().lower()
    found: list[to_pinterest.RemoteAudience] = []
    pages = 0
    while True:
        page = to_pinterest.audiences_page(ad_account, bookmark=bookmark, page_size=250 if needle else limit)
        pages += 1
        found.extend(a for a in page.items if not needle or needle in a.name.lower())
        bookmark = page.bookmark
        if not bookmark or len(found) >= limit or pages >= MAX_PAGES_PER_SEARCH:
            # Items past `limit` on the last page read are dropped from this
            # answer only when not searching; with a search they are kept
            # (the page is still bounded by MAX_PAGES_PER_SEARCH * 250).
            return AudiencePage(found if needle else found[:limit], bookmark)


# --- Actalike audiences ----------------------------------------------------------------------------
# Pinterest builds them from a READY seed audience
# (https://developers.pinterest.com/docs/api/v5/audiences-create, rule.seed_id,
# rule.country, rule.percentage 1-10). They live on Pinterest only.

ACTALIKE_COUNTRIES = ("US", "CA", "GB")



def audience_create_actalike(*, audience: Audience, country: str, percentage: int, name: str = ""):
    """Create an Actalike audience on Pinterest seeded by `audience`; returns Pinterest's audience.

    The seed must be READY on Pinterest. Nothing is stored here: the new
    audience is for ads targeting, not for syncing.
    """
    if audience.status != Audience.Status.READY or not audience.pinterest_audience_id:
        raise ServiceError("An Actalike audience needs a seed audience that is ready on Pinterest.")
    if country not in ACTALIKE_COUNTRIES:
        raise ServiceError(f"Choose one of {', '.join(ACTALIKE_COUNTRIES)} as the country.")
    if not isinstance(percentage, int) or not 1 <= percentage <= 10:
        raise ServiceError("The percentage must be a whole number from 1 to 10.")
    name = (name or "").strip() or f"{audience.name} Actalike {country} {percentage}%"
    if len(name) > AUDIENCE_NAME_MAX_LENGTH:
        raise ServiceError(f"Audience names are at most {AUDIENCE_NAME_MAX_LENGTH} characters.")
    return to_pinterest.actalike_create(audience.ad_account, name=name, seed_audience_id=audience.pinterest_audience_id,
                                        country=country, percentage=percentage)


# --- The lifecycle sweeper ---------------------------------------------------------------------------

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
        except to_pinterest.Held:
            continue
        except to_pinterest.PinterestProblem as exc:
            logger.warning("checking audience %s failed: %s", audience.pk, exc)
    return changed


def audience_check(audience: Audience) -> int:
    """Read the lists and the audience on Pinterest; create or recreate the audience when allowed."""
    ad_account = audience.ad_account
    changed = 0
    lists = list(audience.lists.exclude(pinterest_customer_list_id=""))
    for customer_list in lists:
        status = to_pinterest.customer_list_status(ad_account, customer_list.pinterest_customer_list_id)
        if status != customer_list.pinterest_status:
            AudienceList.objects.filter(pk=customer_list.pk).update(pinterest_status=status)
            customer_list.pinterest_status = status
            changed += 1

    if audience.pinterest_audience_id:
        try:
            remote = to_pinterest.audience_read(ad_account, audience.pinterest_audience_id)
        except to_pinterest.Missing:
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
        audience_size_record(audience_id=audience.pk, size=remote.size, pinterest_status=remote.status)
        return changed + 1

    ready = next((item for item in lists if item.pinterest_status == "READY"), None)
    if ready is None:
        Audience.objects.filter(pk=audience.pk).update(checked_at=timezone.now())
        # No size yet; the list's status (too small, matching) is the reading.
        audience_size_record(audience_id=audience.pk, size=None,
                             pinterest_status=lists[0].pinterest_status if lists else "")
        return changed
    created = to_pinterest.audience_create(ad_account, name=audience.name, customer_list_id=ready.pinterest_customer_list_id)
    Audience.objects.filter(pk=audience.pk).update(
        pinterest_audience_id=created.id,
        pinterest_status=created.status,
        pinterest_size=created.size,
        status=Audience.Status.READY,
        last_error="",
        checked_at=timezone.now(),
    )
    audience_size_record(audience_id=audience.pk, size=created.size, pinterest_status=created.status)
    logger.info("audience %s created on Pinterest as %s", audience.pk, created.id)
    return changed + 1
