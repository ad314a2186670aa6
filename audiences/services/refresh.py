"""A marketer's "Refresh now": read an audience on Pinterest at once rather than at the sweep's next turn."""

from __future__ import annotations

from audiences.models import Audience
from audiences.sending import pinterest as to_pinterest
from audiences.services.audiences import audience_check
from audiences.services.errors import ServiceError


def audience_refresh(*, audience: Audience) -> Audience:
    """Read the audience's lists and size on Pinterest now (outside a transaction); the reading is kept."""
    if not audience.lists.exclude(pinterest_customer_list_id="").exists() and not audience.pinterest_audience_id:
        raise ServiceError("There is nothing on Pinterest to read yet: the audience is made there with the first "
                           "users sent to it.")
    try:
        audience_check(Audience.objects.select_related("ad_account__connection").get(pk=audience.pk))
    except to_pinterest.Held as exc:
        raise ServiceError(f"Pinterest could not be asked now: {exc}") from exc
    except to_pinterest.PinterestProblem as exc:
        raise ServiceError(f"Pinterest did not answer: {exc}") from exc
    audience.refresh_from_db()
    return audience
