"""A small client for the sandbox's control endpoints, for tests that drive a sandbox in another process."""

from __future__ import annotations

import requests


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 10.0):
        # Accepts the sandbox root, its /v5 API URL or its /_sandbox URL.
        root = base_url.rstrip("/")
        for suffix in ("/v5", "/_sandbox"):
            if root.endswith(suffix):
                root = root[: -len(suffix)]
        self.url = root + "/_sandbox"
        self.timeout = timeout

    def _post(self, path: str, body: dict | None = None) -> dict:
        response = requests.post(f"{self.url}/{path}", json=body or {}, timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def _get(self, path: str) -> dict:
        response = requests.get(f"{self.url}/{path}", timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def health(self) -> bool:
        try:
            return bool(self._get("health").get("ok"))
        except requests.RequestException:
            return False

    def set_faults(self, **faults: float) -> dict:
        return self._post("faults", faults)

    def fail_next(self, n: int, status: int) -> None:
        self._post("fail_next", {"n": n, "status": status})

    def create_user(self, username: str = "sandbox-user", ad_accounts: int = 3) -> dict:
        return self._post("users", {"username": username, "ad_accounts": ad_accounts})

    def revoke(self, token: str) -> bool:
        return bool(self._post("revoke", {"token": token})["revoked"])

    def revoke_user(self, user_id: str) -> int:
        return int(self._post("revoke", {"user_id": user_id})["revoked"])

    def delete_audience(self, audience_id: str) -> bool:
        return bool(self._post(f"audiences/{audience_id}/delete")["deleted"])

    def requests_log(self) -> list[dict]:
        return self._get("requests")["requests"]

    def customer_lists(self) -> list[dict]:
        return self._get("customer_lists")["items"]

    def customer_list_records(self, list_id: str) -> set[str]:
        return set(self._get(f"customer_lists/{list_id}/records")["records"])

    def reset(self) -> None:
        self._post("reset")
