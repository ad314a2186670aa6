"""The sandbox's audiences: CUSTOMER_LIST audiences made only from a READY list."""

from __future__ import annotations

import time

from integrations.pinterest.sandbox.resources import AUDIENCE_TYPES, ApiError, Audience, User


class AudiencesMixin:
    """Audiences of a SandboxState (its lock guards them)."""

    # --- audiences ---------------------------------------------------------------------------

    def audience_json(self, audience: Audience) -> dict:
        size, status = None, "READY"
        if audience.audience_type == "CUSTOMER_LIST":
            customer_list = self.lists.get(str(audience.rule.get("customer_list_id")))
            members = len(customer_list.members) if customer_list else 0
            size = members if members >= self.ready_threshold else None
            status = "READY" if members >= self.ready_threshold else "TOO_SMALL"
        return {
            "id": audience.id,
            "ad_account_id": audience.ad_account_id,
            "name": audience.name,
            "audience_type": audience.audience_type,
            "description": audience.description,
            "rule": audience.rule,
            "size": size,
            "status": status,
            "type": "audience",
            "created_timestamp": audience.created_timestamp,
            "updated_timestamp": audience.updated_timestamp,
            "created_by_company_name": "",
        }

    def create_audience(self, user: User, ad_account_id: str, body: dict) -> dict:
        with self.lock:
            self.ad_account_for(user, ad_account_id)
            audience_type, name, rule = body.get("audience_type"), body.get("name"), body.get("rule")
            if audience_type not in AUDIENCE_TYPES:
                raise ApiError(400, 1, "audience_type is required and must be a valid audience type.")
            if not isinstance(name, str) or not name.strip():
                raise ApiError(400, 1, "name is required.")
            if not isinstance(rule, dict):
                raise ApiError(400, 1, "rule is required.")
            if audience_type == "CUSTOMER_LIST":
                list_id = str(rule.get("customer_list_id") or "")
                customer_list = self.lists.get(list_id)
                if customer_list is None or customer_list.ad_account_id != ad_account_id:
                    raise ApiError(400, 1, "rule.customer_list_id is not a customer list of this ad account.")
                status = self.list_status(customer_list)
                if status != "READY":
                    raise ApiError(400, 1, f"The customer list is {status}: an audience needs at least "
                                           f"{self.ready_threshold} matched users.")
            if audience_type == "ACTALIKE":
                seeds = rule.get("seed_id")
                if not isinstance(seeds, list) or not seeds or any(str(s) not in self.audiences_by_id for s in seeds):
                    raise ApiError(400, 1, "rule.seed_id must list existing audiences.")
                if rule.get("country") not in ("US", "CA", "GB"):
                    raise ApiError(400, 1, "rule.country must be US, CA or GB.")
                percentage = rule.get("percentage")
                if not isinstance(percentage, int) or not 1 <= percentage <= 10:
                    raise ApiError(400, 1, "rule.percentage must be between 1 and 10.")
            now = int(time.time())
            audience = Audience(self.new_id(), ad_account_id, name, audience_type, rule,
                                body.get("description") or "", now, now)
            self.audiences_by_id[audience.id] = audience
            return self.audience_json(audience)

    def get_audience(self, user: User, ad_account_id: str, audience_id: str) -> Audience:
        self.ad_account_for(user, ad_account_id)
        audience = self.audiences_by_id.get(audience_id)
        if audience is None or audience.deleted or audience.ad_account_id != ad_account_id:
            raise ApiError(404, 2404, "Audience not found.")
        return audience

    def update_audience(self, user: User, ad_account_id: str, audience_id: str, body: dict) -> dict:
        with self.lock:
            audience = self.get_audience(user, ad_account_id, audience_id)
            operation = body.get("operation_type", "UPDATE")
            if operation not in ("UPDATE", "REMOVE"):
                raise ApiError(400, 1, "operation_type must be UPDATE or REMOVE.")
            if operation == "REMOVE":
                audience.deleted = True
            for key in ("name", "description"):
                if isinstance(body.get(key), str):
                    setattr(audience, key, body[key])
            if isinstance(body.get("rule"), dict):
                audience.rule = body["rule"]
            audience.updated_timestamp = int(time.time())
            return self.audience_json(audience)

    def delete_audience(self, audience_id: str) -> bool:
        with self.lock:
            audience = self.audiences_by_id.get(audience_id)
            if audience:
                audience.deleted = True
            return bool(audience)

    def audiences(self) -> list[dict]:
        with self.lock:
            return [self.audience_json(a) for a in self.audiences_by_id.values() if not a.deleted]
