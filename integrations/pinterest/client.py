"""Every HTTP call this service makes to Pinterest's REST API v5.

One method per operation, a link to Pinterest's reference above each.
Responses are parsed into small typed objects. Failures become one of a few
exceptions named by what the caller must do:

- AuthError: the token is invalid or expired; refresh once, then reconnect.
- RateLimited: slow down; carries the wait Pinterest asked for, if any.
- TransientError: 5xx, timeout or connection failure; try again later.
- RequestError: Pinterest refused this payload; retrying it will not help.

No library exception escapes, and no token, email or ad id is ever put in
an exception message or a log line: errors carry Pinterest's {code, message},
the HTTP status and the x-pinterest-rid request id.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

logger = logging.getLogger(__name__)


# --- Errors ---------------------------------------------------------------------


class PinterestError(Exception):
    """Base: carries Pinterest's error code and message, never request data."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None, request_id: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [self.message]
        if self.status:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return " · ".join(parts)


class AuthError(PinterestError):
    """401: the token is invalid, expired or revoked. Refresh once, then reconnect."""


class RateLimited(PinterestError):
    """429: slow down. retry_after is Pinterest's Retry-After in seconds, when sent."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class TransientError(PinterestError):
    """5xx, timeout or connection error: try again later."""


class RequestError(PinterestError):
    """Other 4xx: permanent for this payload."""


class NotFound(RequestError):
    """404: the object does not exist (or no longer does) on Pinterest."""


class InvalidId(RequestError):
    """A value meant as a Pinterest id is not one; nothing was sent."""


# --- Pinterest ids ------------------------------------------------------------------
# Every object id this service puts in a path is a digit string of at most 18
# characters: openapi-v5.json, components/parameters/path_ad_account_id,
# path_audience_id and path_customer_list_id (`pattern: ^\d+$`, `maxLength: 18`).
# [0-9] and fullmatch, not \d and $: \d takes other scripts' digits and $ a
# trailing newline. User account ids are digit strings too, but longer
# (components/schemas/Account.id, example 2783136121146311751).

ID_MAX_LENGTH = 18
_ID = re.compile(r"[0-9]{1,18}")
_USER_ID = re.compile(r"[0-9]{1,32}")


def is_valid_id(value: object) -> bool:
    """Whether `value` is a Pinterest object id (ad account, audience, customer list)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_id(value: object, what: str = "id") -> str:
    """`value` if it is a Pinterest object id; InvalidId (a RequestError) otherwise.

    The value itself is not put in the message: it came from outside.
    """
    if not is_valid_id(value):
        raise InvalidId(f"The {what} is not a Pinterest id (1 to {ID_MAX_LENGTH} digits); nothing was sent.")
    return value


# A path template names its segments: literal words and {placeholders}, never a
# value pasted in. Each placeholder is filled with a checked, URL-quoted id.
_TEMPLATE = re.compile(r"(/([a-z_]+|\{[a-z_]+\}))+")


def api_path(template: str, **ids: str) -> str:
    """'/ad_accounts/{ad_account_id}/audiences' with every id checked and URL-quoted.

    Raises InvalidId before anything is sent when an id is not a Pinterest
    id, and RequestError when the template is not a plain template (a value
    formatted into it), so no caller can make the client call another path.
    """
    if not _TEMPLATE.fullmatch(template):
        raise RequestError("Refusing a Pinterest path that is not a plain template; nothing was sent.")
    names = re.findall(r"\{([a-z_]+)\}", template)
    if sorted(names) != sorted(ids):
        raise RequestError("The ids given do not fill the Pinterest path; nothing was sent.")
    quoted = {name: quote(check_id(value, name.replace("_", " ")), safe="") for name, value in ids.items()}
    return template.format(**quoted)


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


def _id(data: dict) -> str:
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


def _customer_list(data: dict) -> CustomerList:
    return CustomerList(
        id=_id(data),
        ad_account_id=_optional_id(data.get("ad_account_id"), "ad account id"),
        name=data.get("name") or "",
        status=data.get("status") or "",
        num_uploaded_user_records=int(data.get("num_uploaded_user_records") or 0),
        num_removed_user_records=int(data.get("num_removed_user_records") or 0),
        num_batches=int(data.get("num_batches") or 0),
    )


def _audience(data: dict) -> Audience:
    rule = data.get("rule") or {}
    if not isinstance(rule, dict):
        raise TransientError("Pinterest answered with an audience rule that is not an object")
    if rule.get("customer_list_id") not in (None, ""):
        rule = {**rule, "customer_list_id": _answered_id(rule["customer_list_id"], "customer list id")}
    return Audience(
        id=_id(data),
        ad_account_id=_optional_id(data.get("ad_account_id"), "ad account id"),
        name=data.get("name") or "",
        audience_type=data.get("audience_type") or "",
        status=data.get("status") or "",
        size=data.get("size"),
        rule=rule,
        description=data.get("description") or "",
    )


# --- Transport ----------------------------------------------------------------------

_local = threading.local()


def _session() -> requests.Session:
    # One keep-alive session per thread: connection reuse matters at 7 req/s.
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        _local.session = session
    return session


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    # Pinterest's messages are not ours: never let one carry a token or code into a log line.
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _error_from_response(response: requests.Response, secrets: tuple[str, ...] = ()) -> PinterestError:
    request_id = response.headers.get("x-pinterest-rid", "")
    code = None
    message = response.reason or "Pinterest error"
    try:
        body = response.json()
        if isinstance(body, dict):
            code = body.get("code")
            message = str(body.get("message") or message)[:500]
    except ValueError:
        pass
    message = _scrub(message, secrets)
    kwargs = {"status": response.status_code, "code": code, "request_id": request_id}
    status = response.status_code
    if status == 401:
        return AuthError(message, **kwargs)
    if status == 429:
        retry_after = None
        header = response.headers.get("Retry-After")
        if header:
            try:
                retry_after = max(0.0, float(header))
            except ValueError:
                retry_after = None
        return RateLimited(message, retry_after=retry_after, **kwargs)
    if status >= 500:
        return TransientError(message, **kwargs)
    if status == 404:
        return NotFound(message, **kwargs)
    return RequestError(message, **kwargs)


def _send(
    method: str,
    url: str,
    *,
    timeout: float | None = None,
    before_send: Callable[[], None] | None = None,
    secrets: tuple[str, ...] = (),
    **kwargs: Any,
) -> dict:
    """One request with an explicit (connect, read) timeout; failures become PinterestErrors.

    `before_send` (the rate limiter) runs once the request is built, right
    before it goes on the wire, so a slot granted is a slot used at once.
    `secrets` are removed from any error message Pinterest sends back.
    """
    timeout = timeout or settings.PINTEREST_HTTP_TIMEOUT
    session = _session()
    try:
        prepared = session.prepare_request(requests.Request(method, url, **kwargs))
        options = session.merge_environment_settings(prepared.url, {}, None, None, None)
    except (requests.RequestException, ValueError) as exc:
        raise RequestError(f"Could not build the request to Pinterest ({type(exc).__name__})") from None
    if before_send:
        before_send()
    try:
        response = session.send(prepared, timeout=(min(5.0, timeout), timeout), allow_redirects=True, **options)
    except requests.Timeout:
        raise TransientError("Pinterest did not answer in time") from None
    except requests.RequestException as exc:
        raise TransientError(f"Could not reach Pinterest ({type(exc).__name__})") from None
    if response.status_code >= 400:
        error = _error_from_response(response, secrets)
        logger.warning("pinterest %s %s failed: %s", method, _path_only(url), error)
        raise error
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError:
        raise TransientError("Pinterest answered with a body that is not JSON", status=response.status_code) from None
    if not isinstance(data, dict):
        raise TransientError("Pinterest answered with an unexpected body", status=response.status_code)
    return data


def _path_only(url: str) -> str:
    return url.split("?", 1)[0]


# --- OAuth token endpoint (client credentials, not a user token) -------------------------


def _basic_auth() -> str:
    raw = f"{settings.PINTEREST_CLIENT_ID}:{settings.PINTEREST_CLIENT_SECRET}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _token_set(data: dict, *, previous_refresh_token: str = "") -> TokenSet:
    if not data.get("access_token"):
        raise TransientError("Pinterest answered the token request without an access token")
    return TokenSet(
        access_token=data["access_token"],
        refresh_token=data.get("refresh_token") or previous_refresh_token,
        expires_in=data.get("expires_in"),
        refresh_token_expires_in=data.get("refresh_token_expires_in"),
        scope=data.get("scope") or "",
    )


def exchange_code(*, code: str, redirect_uri: str) -> TokenSet:
    """https://developers.pinterest.com/docs/api/v5/oauth-token (authorization_code)"""
    data = _send(
        "POST",
        f"{settings.PINTEREST_API_BASE_URL}/oauth/token",
        headers={"Authorization": _basic_auth()},
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
        secrets=(code, settings.PINTEREST_CLIENT_SECRET),
    )
    return _token_set(data)


def refresh_tokens(*, refresh_token: str) -> TokenSet:
    """https://developers.pinterest.com/docs/api/v5/oauth-token (refresh_token)

    Pinterest rotates the refresh token (continuous refresh, API-NOTES 1.3):
    the caller must store the new one every time.
    """
    data = _send(
        "POST",
        f"{settings.PINTEREST_API_BASE_URL}/oauth/token",
        headers={"Authorization": _basic_auth()},
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "continuous_refresh": "true"},
        secrets=(refresh_token, settings.PINTEREST_CLIENT_SECRET),
    )
    return _token_set(data, previous_refresh_token=refresh_token)


# --- The user-token client ----------------------------------------------------------------


class PinterestClient:
    """Calls made with one user's access token.

    `before_request` (the shared rate limiter) runs right before every call and
    `on_rate_limited` after every 429, so every process using this token
    stays within Pinterest's per-user limit.
    """

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        before_request: Callable[[], None] | None = None,
        on_rate_limited: Callable[[RateLimited], None] | None = None,
    ):
        self._access_token = access_token
        self.base_url = (base_url or settings.PINTEREST_API_BASE_URL).rstrip("/")
        self.timeout = timeout
        self._before_request = before_request
        self._on_rate_limited = on_rate_limited

    def __repr__(self) -> str:
        return f"PinterestClient(base_url={self.base_url!r})"

    def _call(self, method: str, template: str, *, ids: dict[str, str] | None = None, params: dict | None = None,
              json: dict | None = None) -> dict:
        """One call to `template` (e.g. "/ad_accounts/{ad_account_id}") with `ids` checked and quoted."""
        path = api_path(template, **(ids or {}))
        try:
            return _send(
                method,
                self.base_url + path,
                timeout=self.timeout,
                before_send=self._before_request,
                secrets=(self._access_token,),
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {self._access_token}"},
            )
        except RateLimited as exc:
            if self._on_rate_limited:
                self._on_rate_limited(exc)
            raise

    # https://developers.pinterest.com/docs/api/v5/user_account-get
    def user_account(self) -> Account:
        data = self._call("GET", "/user_account")
        user_id = data.get("id")
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
            raise TransientError("Pinterest answered with a user account id that is not a Pinterest id")
        return Account(
            id=user_id,
            username=data.get("username") or "",
            account_type=data.get("account_type") or "",
            business_name=data.get("business_name") or "",
        )

    # https://developers.pinterest.com/docs/api/v5/ad_accounts-list
    def ad_accounts(self, *, page_size: int = 250) -> Iterator[AdAccount]:
        """Every ad account of the user, following `bookmark` to the end."""
        bookmark = None
        while True:
            params: dict[str, Any] = {"page_size": page_size}
            if bookmark:
                params["bookmark"] = bookmark
            data = self._call("GET", "/ad_accounts", params=params)
            for item in data.get("items") or []:
                yield AdAccount(
                    id=_id(item),
                    name=item.get("name") or "",
                    country=item.get("country") or "",
                    currency=item.get("currency") or "",
                    owner_username=(item.get("owner") or {}).get("username") or "",
                )
            bookmark = data.get("bookmark")
            if not bookmark:
                return

    # https://developers.pinterest.com/docs/api/v5/customer_lists-create
    def customer_list_create(self, ad_account_id: str, *, name: str, list_type: str, records: list[str]) -> CustomerList:
        body = {"name": name, "list_type": list_type, "records": ",".join(records)}
        return _customer_list(self._call("POST", "/ad_accounts/{ad_account_id}/customer_lists",
                                         ids={"ad_account_id": ad_account_id}, json=body))

    # https://developers.pinterest.com/docs/api/v5/customer_lists-update
    def customer_list_update(
        self, ad_account_id: str, customer_list_id: str, *, operation: str, records: list[str]
    ) -> CustomerList:
        body = {"operation_type": operation, "records": ",".join(records)}
        return _customer_list(self._call(
            "PATCH", "/ad_accounts/{ad_account_id}/customer_lists/{customer_list_id}",
            ids={"ad_account_id": ad_account_id, "customer_list_id": customer_list_id}, json=body,
        ))

    # https://developers.pinterest.com/docs/api/v5/customer_lists-get
    def customer_list_get(self, ad_account_id: str, customer_list_id: str) -> CustomerList:
        return _customer_list(self._call(
            "GET", "/ad_accounts/{ad_account_id}/customer_lists/{customer_list_id}",
            ids={"ad_account_id": ad_account_id, "customer_list_id": customer_list_id},
        ))

    # https://developers.pinterest.com/docs/api/v5/customer_lists-list
    def customer_lists_page(self, ad_account_id: str, *, bookmark: str | None = None, page_size: int = 100) -> Page:
        params: dict[str, Any] = {"page_size": page_size}
        if bookmark:
            params["bookmark"] = bookmark
        data = self._call("GET", "/ad_accounts/{ad_account_id}/customer_lists", ids={"ad_account_id": ad_account_id},
                          params=params)
        return Page([_customer_list(i) for i in data.get("items") or []], data.get("bookmark"))

    # https://developers.pinterest.com/docs/api/v5/audiences-create
    def audience_create_from_list(
        self, ad_account_id: str, *, name: str, customer_list_id: str, description: str = ""
    ) -> Audience:
        body = {
            "ad_account_id": ad_account_id,
            "name": name,
            "audience_type": "CUSTOMER_LIST",
            "rule": {"customer_list_id": check_id(customer_list_id, "customer list id")},
            "description": description,
        }
        return _audience(self._call("POST", "/ad_accounts/{ad_account_id}/audiences",
                                    ids={"ad_account_id": ad_account_id}, json=body))

    # https://developers.pinterest.com/docs/api/v5/audiences-create (ACTALIKE)
    def audience_create_actalike(
        self, ad_account_id: str, *, name: str, seed_audience_id: str, country: str, percentage: int
    ) -> Audience:
        body = {
            "ad_account_id": ad_account_id,
            "name": name,
            "audience_type": "ACTALIKE",
            "rule": {"seed_id": [check_id(seed_audience_id, "seed audience id")], "country": country,
                     "percentage": percentage},
        }
        return _audience(self._call("POST", "/ad_accounts/{ad_account_id}/audiences",
                                    ids={"ad_account_id": ad_account_id}, json=body))

    # https://developers.pinterest.com/docs/api/v5/audiences-get
    def audience_get(self, ad_account_id: str, audience_id: str) -> Audience:
        return _audience(self._call("GET", "/ad_accounts/{ad_account_id}/audiences/{audience_id}",
                                    ids={"ad_account_id": ad_account_id, "audience_id": audience_id}))

    # https://developers.pinterest.com/docs/api/v5/audiences-list
    def audiences_page(self, ad_account_id: str, *, bookmark: str | None = None, page_size: int = 100) -> Page:
        params: dict[str, Any] = {"page_size": page_size}
        if bookmark:
            params["bookmark"] = bookmark
        data = self._call("GET", "/ad_accounts/{ad_account_id}/audiences", ids={"ad_account_id": ad_account_id},
                          params=params)
        return Page([_audience(i) for i in data.get("items") or []], data.get("bookmark"))

    # https://developers.pinterest.com/docs/api/v5/audiences-update
    def audience_update(self, ad_account_id: str, audience_id: str, *, name: str | None = None,
                        description: str | None = None) -> Audience:
        body: dict[str, Any] = {"operation_type": "UPDATE"}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        return _audience(self._call("PATCH", "/ad_accounts/{ad_account_id}/audiences/{audience_id}",
                                    ids={"ad_account_id": ad_account_id, "audience_id": audience_id}, json=body))


def monotonic_ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
