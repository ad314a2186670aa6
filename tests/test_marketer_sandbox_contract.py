"""What the one-list-per-audience design relies on, checked on the wire against Pinterest's OpenAPI description.

A customer list declares one `list_type`, but its records "can be any
combination of emails, MAIDs, or IDFAs"; a CUSTOMER_LIST audience wraps one
list, and its size counts every matched record of that list, whatever the type.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.test_contract import ad_account_id, api, check, openapi, wire  # noqa: F401  (fixtures)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning"),
]


def sha(values: list[str]) -> list[str]:
    return [hashlib.sha256(v.encode()).hexdigest() for v in values]


def test_a_list_holds_mixed_records_and_its_audience_counts_them_all(openapi, sandbox, wire, api, ad_account_id):  # noqa: F811
    emails = sha([f"user{i}@example.com" for i in range(90)])
    idfas = sha([f"{i:08X}-AAAA-BBBB-CCCC-DDDDEEEEFFFF" for i in range(12)])
    maids = sha([f"{i:08x}-aaaa-bbbb-cccc-ddddeeeeffff" for i in range(6)])

    created = api.customer_list_create(ad_account_id, name="Everyone", list_type="EMAIL", records=emails[:10] + idfas)
    api.customer_list_update(ad_account_id, created.id, operation="ADD", records=emails[10:] + maids)
    audience = api.audience_create_from_list(ad_account_id, name="Everyone", customer_list_id=created.id)
    read = api.audience_get(ad_account_id, audience.id)

    assert sandbox.state.customer_list_records(created.id) == set(emails + idfas + maids)
    assert read.size == 108  # the audience's size is its one list's matched records, every type counted
    assert check(openapi, sandbox, wire)[-4:] == [
        ("customer_lists/create", 200), ("customer_lists/update", 200), ("audiences/create", 200),
        ("audiences/get", 200),
    ]
