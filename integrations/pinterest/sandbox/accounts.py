"""The sandbox's users, their tokens, the OAuth flow and their ad accounts."""

from __future__ import annotations

import secrets
import time

from integrations.pinterest.sandbox.resources import AUTH_FAILED, ApiError, Token, User


class AccountsMixin:
    """Users, tokens and ad accounts of a SandboxState (its lock guards them)."""

    # --- users and tokens -----------------------------------------------------------------

    def create_user(self, username: str = "sandbox-user", ad_accounts: int = 3) -> dict:
        with self.lock:
            for user in self.users.values():
                if user.username == username:
                    return self.user_json(user)
            user = User(id=self.new_id(), username=username)
            self.users[user.id] = user
            for i in range(ad_accounts):
                self.add_ad_account(user, name=f"{username} ads {i + 1}")
            return self.user_json(user)

    def add_ad_account(self, user: User, *, name: str, account_id: str | None = None) -> dict:
        account_id = account_id or self.new_id()
        now = int(time.time())
        account = {
            "id": account_id,
            "name": name,
            "owner": {"id": user.id, "username": user.username},
            "country": "US",
            "currency": "USD",
            "permissions": ["OWNER"],
            "created_time": now,
            "updated_time": now,
        }
        self.ad_accounts[account_id] = account
        user.ad_account_ids.append(account_id)
        return account

    def user_json(self, user: User) -> dict:
        return {
            "id": user.id,
            "username": user.username,
            "account_type": "BUSINESS",
            "business_name": user.username,
            "profile_image": "",
            "website_url": "",
            "ad_account_ids": list(user.ad_account_ids),
        }

    def issue_tokens(self, user_id: str, access_ttl: int | None = None, *, scope: str = "ads:read,ads:write,user_accounts:read",
                     access_token: str | None = None, refresh_token: str | None = None) -> dict:
        with self.lock:
            now = time.time()
            ttl = self.access_token_ttl if access_ttl is None else access_ttl
            access = Token(access_token or "pina_" + secrets.token_urlsafe(32), user_id, "access", now + ttl, scope)
            refresh = Token(refresh_token or "pinr_" + secrets.token_urlsafe(32), user_id, "refresh",
                            now + self.refresh_token_ttl, scope)
            self.tokens[access.value] = access
            self.tokens[refresh.value] = refresh
            return {
                "access_token": access.value,
                "refresh_token": refresh.value,
                "token_type": "bearer",
                "expires_in": int(ttl),
                "refresh_token_expires_in": self.refresh_token_ttl,
                "refresh_token_expires_at": int(refresh.expires_at),
                "scope": scope,
            }

    def revoke(self, token: str) -> bool:
        with self.lock:
            found = self.tokens.get(token)
            if found:
                found.revoked = True
            return bool(found)

    def revoke_user(self, user_id: str) -> int:
        """Revoke every token of a user, as when they remove the app's access."""
        with self.lock:
            count = 0
            for token in self.tokens.values():
                if token.user_id == user_id and not token.revoked:
                    token.revoked = True
                    count += 1
            return count

    def expire(self, access_token: str) -> None:
        with self.lock:
            if access_token in self.tokens:
                self.tokens[access_token].expires_at = time.time() - 1

    def seed_demo(self) -> dict:
        """A fixed demo user with ad accounts and fixed tokens (idempotent)."""
        with self.lock:
            user = next((u for u in self.users.values() if u.username == "demo"), None)
            if user is None:
                user = User(id="549755813888", username="demo")
                self.users[user.id] = user
                for i, account_id in enumerate(["549755885175", "549755885176"]):
                    self.add_ad_account(user, name=f"Demo ads {i + 1}", account_id=account_id)
            if "pina_demo_access_token" not in self.tokens:
                self.issue_tokens(user.id, access_token="pina_demo_access_token", refresh_token="pinr_demo_refresh_token")
            return self.user_json(user)

    def authenticate(self, token_value: str) -> User:
        with self.lock:
            token = self.tokens.get(token_value)
            if token is None or token.kind != "access" or token.revoked or token.expires_at <= time.time():
                raise ApiError(*AUTH_FAILED)
            return self.users[token.user_id]

    # --- OAuth --------------------------------------------------------------------------

    def check_client(self, client_id: str, client_secret: str | None = None) -> bool:
        return client_id == self.client_id and (client_secret is None or client_secret == self.client_secret)

    def grant_code(self, *, client_id: str, redirect_uri: str, scope: str, username: str) -> str:
        with self.lock:
            user = self.create_user(username=username or "sandbox-user")
            code = secrets.token_urlsafe(24)
            self.codes[code] = {
                "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope, "user_id": user["id"],
                "expires_at": time.time() + 600,
            }
            return code

    def exchange_code(self, *, code: str, redirect_uri: str) -> dict:
        with self.lock:
            grant = self.codes.pop(code, None)
            if grant is None or grant["expires_at"] < time.time():
                raise ApiError(400, 1, "Invalid authorization code.")
            if grant["redirect_uri"] != redirect_uri:
                raise ApiError(400, 1, "redirect_uri does not match the authorization request.")
            tokens = self.issue_tokens(grant["user_id"], scope=grant["scope"] or "ads:read,ads:write,user_accounts:read")
            return {**tokens, "response_type": "authorization_code"}

    def refresh(self, *, refresh_token: str) -> dict:
        with self.lock:
            token = self.tokens.get(refresh_token)
            if token is None or token.kind != "refresh" or token.revoked or token.expires_at <= time.time():
                raise ApiError(400, 1, "Invalid refresh token.")
            token.revoked = True  # rotated: the old refresh token is spent
            tokens = self.issue_tokens(token.user_id, scope=token.scope)
            return {**tokens, "response_type": "refresh_token"}

    # --- ad accounts ------------------------------------------------------------------------

    def ad_account_for(self, user: User, ad_account_id: str) -> dict:
        account = self.ad_accounts.get(ad_account_id)
        if account is None or ad_account_id not in user.ad_account_ids:
            raise ApiError(404, 2404, "Ad account not found.")
        return account
