"""Pinterest's answers as small typed objects, with their ids checked before any later path uses them."""

from __future__ import annotations

from dataclasses import dataclass, field

from integrations.pinterest.errors import TransientError
from integrations.pinterest.ids import is_valid_id


# --- Typed responses --------------------------------------------------------------


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    expires_in: int | None
    refresh_token_expires_in: int | None
    scope: str

    def __repr__(self) -> str:  # never print tokens
        return f"TokenSet(expires_in={self.expires_in}, scope={self.scope!r})"


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    account_type: str = ""
    business_name: str = ""


@dataclass(frozen=True)
class AdAccount:
    id: str
    name: str
    country: str = ""
    currency: str = ""
    owner_username: str = ""


@dataclass(frozen=True)
class CustomerList:
    id: str
    ad_account_id: str
    name: str
    status: str
    num_uploaded_user_records: int = 0
    num_removed_user_records: int = 0
    num_batches: int = 0


@dataclass(frozen=True)
class Audience:
    id: str
    ad_account_id: str
    name: str
    audience_type: str
    status: str
    size: int | None
    rule: dict = field(default_factory=dict)
    description: str = ""

    @property
    def customer_list_id(self) -> str:
        return str(self.rule.get("customer_list_id") or "")


@dataclass(frozen=True)
class Page:
    items: list
    bookmark: str | None


# Ids read back from Pinterest are checked like ids from anywhere else: they
# are put in the paths of later calls (a customer list id from an audience's
# rule, an ad account id from the list of ad accounts).


def id_from(data: dict) -> str:
    if not isinstance(data, dict) or not data.get("id"):
        raise TransientError("Pinterest answered without the object's id")
    return _answered_id(data["id"], "object id")


def _answered_id(value: object, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not is_valid_id(value):
        raise TransientError(f"Pinterest answered with a {what} that is not a Pinterest id")
    return value


def _optional_id(value: object, what: str) -> str:
    return "" if value in (None, "") else _answered_id(value, what)


def customer_list_from(data: dict) -> CustomerList:
    return CustomerList(
        id=id_from(data),
        ad_account_id=_optional_id(data.get("ad_account_id"), "ad account id"),
        name=data.get("name") or "",
        status=data.get("status") or "",
        num_uploaded_user_records=int(data.get("num_uploaded_user_records") or 0),
        num_removed_user_records=int(data.get("num_removed_user_records") or 0),
        num_batches=int(data.get("num_batches") or 0),
    )


def audience_from(data: dict) -> Audience:
    rule = data.get("rule") or {}
    if not isinstance(rule, dict):
        raise TransientError("Pinterest answered with an audience rule that is not an object")
    if rule.get("customer_list_id") not in (None, ""):
        rule = {**rule, "customer_list_id": _answered_id(rule["customer_list_id"], "customer list id")}
    return Audience(
        id=id_from(data),
        ad_account_id=_optional_id(data.get("ad_account_id"), "ad account id"),
        name=data.get("name") or "",
        audience_type=data.get("audience_type") or "",
        status=data.get("status") or "",
        size=data.get("size"),
        rule=rule,
        description=data.get("description") or "",
    )


