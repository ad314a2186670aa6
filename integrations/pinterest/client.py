"""Every HTTP call this service makes to Pinterest's REST API v5.

One method per operation, a link to Pinterest's reference above each, paths
built from templates with checked ids (ids.py). Responses are parsed into
small typed objects (types.py). Failures become one of a few exceptions
named by what the caller must do (errors.py).

No library exception escapes, and no token, email or ad id is ever put in
an exception message or a log line: errors carry Pinterest's {code, message},
the HTTP status and the x-pinterest-rid request id.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from integrations.pinterest.errors import (  # noqa: F401 - the client's callers catch these
    AuthError,
    InvalidId,
    NotFound,
    PinterestError,
    RateLimited,
    RequestError,
    TransientError,
)
from integrations.pinterest.ids import ID_MAX_LENGTH, api_path, check_id, is_valid_id, is_valid_user_id  # noqa: F401
from integrations.pinterest.types import (  # noqa: F401 - the client's callers read these
    Account,
    AdAccount,
    Audience,
    CustomerList,
    Page,
    TokenSet,
    audience_from,
    customer_list_from,
    id_from,
)

logger = logging.getLogger(__name__)


# --- Transport ----------------------------------------------------------------------

_local = threading.local()


def http_session() -> requests.Session:
    """This thread's HTTP session: every call to Pinterest goes through it (its `hooks` see each response).

    One keep-alive session per thread: connection reuse matters at 7 req/s.
    """
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # The environment's proxy and CA settings are read once per host (`_environment_settings`),
        # not on every request; and never a .netrc, whose credentials would replace the token.
        session.trust_env = False
        _local.session = session
    return session


@lru_cache(maxsize=16)
def _environment_settings(origin: str) -> dict:
    """What requests takes from the environment for this scheme://host (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE).

    Reading it walks the whole environment twice: a tenth of a small batch's
    CPU when it was done for every request.
    """
    reader = requests.Session()
    return reader.merge_environment_settings(origin + "/", {}, None, None, None)


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
    session = http_session()
    try:
        prepared = session.prepare_request(requests.Request(method, url, **kwargs))
        parts = urlsplit(prepared.url)
        options = dict(_environment_settings(f"{parts.scheme}://{parts.netloc}"))
        options["proxies"] = dict(options["proxies"])  # requests may change its copy
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
        if not isinstance(user_id, str) or not is_valid_user_id(user_id):
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
                    id=id_from(item),
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
        return customer_list_from(self._call("POST", "/ad_accounts/{ad_account_id}/customer_lists",
                                         ids={"ad_account_id": ad_account_id}, json=body))

    # https://developers.pinterest.com/docs/api/v5/customer_lists-update
    def customer_list_update(
        self, ad_account_id: str, customer_list_id: str, *, operation: str, records: list[str]
    ) -> CustomerList:
        body = {"operation_type": operation, "records": ",".join(records)}
        return customer_list_from(self._call(
            "PATCH", "/ad_accounts/{ad_account_id}/customer_lists/{customer_list_id}",
            ids={"ad_account_id": ad_account_id, "customer_list_id": customer_list_id}, json=body,
        ))

    # https://developers.pinterest.com/docs/api/v5/customer_lists-get
    def customer_list_get(self, ad_account_id: str, customer_list_id: str) -> CustomerList:
        return customer_list_from(self._call(
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
        return Page([customer_list_from(i) for i in data.get("items") or []], data.get("bookmark"))

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
        return audience_from(self._call("POST", "/ad_accounts/{ad_account_id}/audiences",
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
        return audience_from(self._call("POST", "/ad_accounts/{ad_account_id}/audiences",
                                    ids={"ad_account_id": ad_account_id}, json=body))

    # https://developers.pinterest.com/docs/api/v5/audiences-get
    def audience_get(self, ad_account_id: str, audience_id: str) -> Audience:
        return audience_from(self._call("GET", "/ad_accounts/{ad_account_id}/audiences/{audience_id}",
                                    ids={"ad_account_id": ad_account_id, "audience_id": audience_id}))

    # https://developers.pinterest.com/docs/api/v5/audiences-list
    def audiences_page(self, ad_account_id: str, *, bookmark: str | None = None, page_size: int = 100) -> Page:
        params: dict[str, Any] = {"page_size": page_size}
        if bookmark:
            params["bookmark"] = bookmark
        data = self._call("GET", "/ad_accounts/{ad_account_id}/audiences", ids={"ad_account_id": ad_account_id},
                          params=params)
        return Page([audience_from(i) for i in data.get("items") or []], data.get("bookmark"))
