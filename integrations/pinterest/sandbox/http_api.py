"""The sandbox's Pinterest API v5 routes: user account, ad accounts, customer lists, audiences."""

from __future__ import annotations

import re
import time

from integrations.pinterest.sandbox.resources import ApiError

API = "/v5"
ID = r"(\d{1,18})"
ROUTES = [
    ("GET", re.compile(rf"^{API}/user_account$"), "user_account"),
    ("GET", re.compile(rf"^{API}/ad_accounts$"), "ad_accounts_list"),
    ("GET", re.compile(rf"^{API}/ad_accounts/{ID}$"), "ad_accounts_get"),
    ("POST", re.compile(rf"^{API}/ad_accounts/{ID}/customer_lists$"), "customer_lists_create"),
    ("GET", re.compile(rf"^{API}/ad_accounts/{ID}/customer_lists$"), "customer_lists_list"),
    ("GET", re.compile(rf"^{API}/ad_accounts/{ID}/customer_lists/{ID}$"), "customer_lists_get"),
    ("PATCH", re.compile(rf"^{API}/ad_accounts/{ID}/customer_lists/{ID}$"), "customer_lists_update"),
    ("POST", re.compile(rf"^{API}/ad_accounts/{ID}/audiences$"), "audiences_create"),
    ("GET", re.compile(rf"^{API}/ad_accounts/{ID}/audiences$"), "audiences_list"),
    ("GET", re.compile(rf"^{API}/ad_accounts/{ID}/audiences/{ID}$"), "audiences_get"),
    ("PATCH", re.compile(rf"^{API}/ad_accounts/{ID}/audiences/{ID}$"), "audiences_update"),
]


class ApiRoutesMixin:
    """The API v5 endpoints of the sandbox's handler, by resource: user, ad accounts, customer lists, audiences."""

    # --- the API -------------------------------------------------------------------------

    def _api(self, method: str, path: str, query: dict, raw: bytes) -> None:
        for route_method, pattern, name in ROUTES:
            match = pattern.match(path)
            if match and route_method == method:
                break
        else:
            raise ApiError(404, 404, "Not found.")
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        entry = {"t": time.time(), "method": method, "path": path, "token_user": None, "records": None}
        try:
            user = self.state.authenticate(token)
            entry["token_user"] = user.id
            entry["t"] = self.state.admit(user)
            latency = self.state.faults["latency_ms"]
            if latency:
                time.sleep(latency / 1000)
            body = self._json_body(raw) if method in ("POST", "PATCH") else {}
            if isinstance(body.get("records"), str):
                entry["records"] = body["records"].count(",") + 1 if body["records"] else 0
            result = getattr(self, f"_op_{name}")(user, query, body, *match.groups())
        except ApiError as error:
            entry["status"] = error.status
            self.state.record(**entry)
            raise
        entry["status"] = 200
        self.state.record(**entry)
        self._send(200, result)

    def _page_size(self, query: dict) -> int:
        try:
            size = int(query.get("page_size", 25))
        except ValueError:
            raise ApiError(400, 1, "page_size must be an integer.") from None
        if not 1 <= size <= 250:
            raise ApiError(400, 1, "page_size must be between 1 and 250.")
        return size

    def _op_user_account(self, user, query, body):
        data = self.state.user_json(user)
        data.pop("ad_account_ids")
        return data

    def _op_ad_accounts_list(self, user, query, body):
        with self.state.lock:
            items = [self.state.ad_accounts[i] for i in user.ad_account_ids]
        return self.state.page(items, bookmark=query.get("bookmark"), page_size=self._page_size(query))

    def _op_ad_accounts_get(self, user, query, body, ad_account_id):
        return self.state.ad_account_for(user, ad_account_id)

    def _op_customer_lists_create(self, user, query, body, ad_account_id):
        return self.state.create_list(user, ad_account_id, body)

    def _op_customer_lists_list(self, user, query, body, ad_account_id):
        with self.state.lock:
            self.state.ad_account_for(user, ad_account_id)
            items = [self.state.list_json(l) for l in self.state.lists.values() if l.ad_account_id == ad_account_id]
        if query.get("order") == "DESCENDING":
            items.reverse()
        return self.state.page(items, bookmark=query.get("bookmark"), page_size=self._page_size(query))

    def _op_customer_lists_get(self, user, query, body, ad_account_id, list_id):
        with self.state.lock:
            return self.state.list_json(self.state.get_list(user, ad_account_id, list_id))

    def _op_customer_lists_update(self, user, query, body, ad_account_id, list_id):
        return self.state.update_list(user, ad_account_id, list_id, body)

    def _op_audiences_create(self, user, query, body, ad_account_id):
        return self.state.create_audience(user, ad_account_id, body)

    def _op_audiences_list(self, user, query, body, ad_account_id):
        with self.state.lock:
            self.state.ad_account_for(user, ad_account_id)
            items = [
                self.state.audience_json(a) for a in self.state.audiences_by_id.values()
                if a.ad_account_id == ad_account_id and not a.deleted
            ]
        if query.get("order") == "DESCENDING":
            items.reverse()
        return self.state.page(items, bookmark=query.get("bookmark"), page_size=self._page_size(query))

    def _op_audiences_get(self, user, query, body, ad_account_id, audience_id):
        with self.state.lock:
            return self.state.audience_json(self.state.get_audience(user, ad_account_id, audience_id))

    def _op_audiences_update(self, user, query, body, ad_account_id, audience_id):
        return self.state.update_audience(user, ad_account_id, audience_id, body)
