"""The sandbox's customer lists: records checked as Pinterest checks them, members kept as sets."""

from __future__ import annotations

import time

from integrations.pinterest.sandbox.resources import LIST_TYPES, ApiError, CustomerList, User


class CustomerListsMixin:
    """Customer lists of a SandboxState (its lock guards them)."""

    # --- customer lists ------------------------------------------------------------------------

    def parse_records(self, records: object) -> list[str]:
        if not isinstance(records, str) or not records.strip():
            raise ApiError(400, 1, "records must be a non-empty string of comma-separated identifiers.")
        items = [r.strip() for r in records.split(",")]
        if any(not r for r in items):
            raise ApiError(400, 1, "records contains an empty identifier.")
        if len(items) > self.max_records:
            raise ApiError(400, 1, f"Too many records in one request: {len(items)}; the limit is {self.max_records}.")
        return items

    def list_status(self, customer_list: CustomerList) -> str:
        if time.time() - customer_list.updated_time < self.ready_delay:
            return "PROCESSING"
        return "READY" if len(customer_list.members) >= self.ready_threshold else "TOO_SMALL"

    def list_json(self, customer_list: CustomerList) -> dict:
        return {
            "id": customer_list.id,
            "ad_account_id": customer_list.ad_account_id,
            "name": customer_list.name,
            "created_time": customer_list.created_time,
            "updated_time": int(customer_list.updated_time),
            "num_batches": customer_list.num_batches,
            "num_uploaded_user_records": customer_list.num_uploaded_user_records,
            "num_removed_user_records": customer_list.num_removed_user_records,
            "exceptions": {},
            "type": "customerlist",
            "status": self.list_status(customer_list),
        }

    def create_list(self, user: User, ad_account_id: str, body: dict) -> dict:
        with self.lock:
            self.ad_account_for(user, ad_account_id)
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ApiError(400, 1, "name is required.")
            list_type = body.get("list_type", "EMAIL")
            if list_type not in LIST_TYPES:
                raise ApiError(400, 1, f"Invalid list_type: {list_type}.")
            records = self.parse_records(body.get("records"))
            now = time.time()
            customer_list = CustomerList(
                id=self.new_id(), ad_account_id=ad_account_id, name=name, list_type=list_type,
                members=set(records), created_time=int(now), updated_time=now, num_batches=1,
                num_uploaded_user_records=len(records),
            )
            self.lists[customer_list.id] = customer_list
            return self.list_json(customer_list)

    def get_list(self, user: User, ad_account_id: str, list_id: str) -> CustomerList:
        self.ad_account_for(user, ad_account_id)
        customer_list = self.lists.get(list_id)
        if customer_list is None or customer_list.ad_account_id != ad_account_id:
            raise ApiError(404, 2404, "Customer list not found.")
        return customer_list

    def update_list(self, user: User, ad_account_id: str, list_id: str, body: dict) -> dict:
        with self.lock:
            customer_list = self.get_list(user, ad_account_id, list_id)
            operation = body.get("operation_type")
            if operation not in ("ADD", "REMOVE"):
                raise ApiError(400, 1, "operation_type must be ADD or REMOVE.")
            records = self.parse_records(body.get("records"))
            if operation == "ADD":
                customer_list.members.update(records)
                customer_list.num_uploaded_user_records += len(records)
            else:
                customer_list.members.difference_update(records)
                customer_list.num_removed_user_records += len(records)
            customer_list.num_batches += 1
            customer_list.updated_time = time.time()
            return self.list_json(customer_list)

    def customer_list_records(self, list_id: str) -> set[str]:
        with self.lock:
            return set(self.lists[list_id].members) if list_id in self.lists else set()

    def customer_lists(self) -> list[dict]:
        with self.lock:
            return [{**self.list_json(l), "list_type": l.list_type, "members": len(l.members)} for l in self.lists.values()]

    def delete_list(self, list_id: str) -> bool:
        """What deleting a customer list in Ads Manager does (the v5 API has no delete): it is gone."""
        with self.lock:
            return self.lists.pop(list_id, None) is not None
