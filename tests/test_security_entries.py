"""Entering users: one validator for the API and enter_users, a user once per call, and no impossible identifiers.

services.user_validate is the rule (strings only, the API's lengths, no
unknown key, identifiers that can be someone's); services.users_fold enters
a user once per call (identical repeats folded and counted, conflicting ones
refused naming both rows); services.hash_users applies both for every
caller. The API and the command must refuse the same rows with the same
words, and neither writes anything for a refused call or file.
"""

from __future__ import annotations

import hashlib
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from audiences import services
from audiences.models import IdempotentRequest, ImportJob, SyncRecord
from audiences.sending.pump import send_due_now
from tests.api_support import _fresh_throttle_counts, acme_api, error_of  # noqa: F401
from tests.conftest import make_users

pytestmark = pytest.mark.django_db


def entries_url(canvas):
    return f"/api/v1/canvases/{canvas.pk}/entries/"


def enter_file(path, canvas):
    out = StringIO()
    call_command("enter_users", str(path), "--canvas", str(canvas.pk), "--no-progress", stdout=out, stderr=StringIO())
    return out.getvalue()


def jsonl(tmp_path, rows, name="users.jsonl"):
    path = tmp_path / name
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


# --- A user once per call ------------------------------------------------------------------------------


def test_ten_thousand_copies_of_one_user_enter_one_user(acme_api, add_canvas):
    users = [{"external_id": "same-person", "email": "Same@Example.com"}] * 10_000

    response = acme_api.post(entries_url(add_canvas), {"users": users}, format="json")

    assert response.status_code == 202, response.json()
    assert response.json()["entered"] == 1
    assert response.json()["duplicates_folded"] == 9_999
    assert SyncRecord.objects.count() == 1


def test_repeats_are_folded_into_the_first_row_when_their_identifiers_normalise_alike(acme_api, add_canvas):
    users = make_users(5)
    users.insert(2, {"external_id": " user-0 ", "email": "user0@example.com"})  # trimmed, lowercased: the same
    users.append(dict(users[4]))

    response = acme_api.post(entries_url(add_canvas), {"users": users}, format="json")

    assert response.status_code == 202, response.json()
    assert (response.json()["entered"], response.json()["duplicates_folded"]) == (5, 2)
    assert sorted(SyncRecord.objects.values_list("external_id", flat=True)) == [f"user-{i}" for i in range(5)]


def test_one_external_id_with_two_sets_of_identifiers_refuses_the_call_naming_both_rows(acme_api, add_canvas):
    users = make_users(10)
    users[7] = {"external_id": "user-3", "email": "someone-else@example.com"}

    response = acme_api.post(entries_url(add_canvas), {"users": users}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert (error["details"]["row"], error["details"]["field"]) == (7, "external_id")
    assert "users[3]" in error["message"] and error["message"].startswith("users[7].external_id: ")
    assert not SyncRecord.objects.exists()


def test_a_replayed_call_answers_the_same_fold(acme_api, add_canvas):
    users = make_users(3) + make_users(2)
    first = acme_api.post(entries_url(add_canvas), {"users": users}, format="json", HTTP_IDEMPOTENCY_KEY="fold-1")
    again = acme_api.post(entries_url(add_canvas), {"users": users}, format="json", HTTP_IDEMPOTENCY_KEY="fold-1")
    assert first.json() == again.json() and first.json()["duplicates_folded"] == 2
    assert SyncRecord.objects.count() == 3 and IdempotentRequest.objects.count() == 1


def test_the_schema_documents_duplicates_folded(acme_api):
    schema = acme_api.get("/api/v1/schema/?format=json").json()
    result = schema["components"]["schemas"]["EntryResult"]
    assert "duplicates_folded" in result["required"]
    assert "folded" in result["properties"]["duplicates_folded"]["description"]
    operation = schema["paths"]["/api/v1/canvases/{id}/entries/"]["post"]
    assert "once per call" in operation["description"]


def test_hash_users_folds_for_every_caller():
    hashed = services.hash_users([{"external_id": "a", "email": "a@example.com"},
                                  {"external_id": "b"}, {"external_id": "a", "email": " A@example.com"}])
    assert [u.external_id for u in hashed] == ["a", "b"]
    assert hashed.duplicates_folded == 1
    with pytest.raises(services.EntryRejected) as refused:
        services.hash_users([{"external_id": "a"}, {"external_id": "a", "ios_idfa": "6d92078a-8246-4ba4-ae5b-76104861e7dc"}])
    assert (refused.value.row, refused.value.other_row, refused.value.field) == (1, 0, "external_id")


def test_enter_users_folds_repeats_and_refuses_conflicts_with_both_lines(tmp_path, add_canvas):
    rows = make_users(4) + [make_users(1)[0]]
    output = enter_file(jsonl(tmp_path, rows), add_canvas)
    assert "Entered 4 users" in output and "1 rows repeated a user" in output
    assert SyncRecord.objects.count() == 4

    conflicting = make_users(4, start=10) + [{"external_id": "user-11", "email": "other@example.com"}]
    with pytest.raises(CommandError, match=r"nobody was entered.*line 5, external_id \('user-11'\): same external_id "
                                           r"as line 2"):
        enter_file(jsonl(tmp_path, conflicting, "c.jsonl"), add_canvas)
    assert SyncRecord.objects.count() == 4


# --- One validator for the API and the command --------------------------------------------------------

# Rows the API refuses; enter_users must refuse them too, for the same reason in the same words.
BAD_USERS = [
    pytest.param({"external_id": "u", "email": ["a@example.com"]}, "email", "email must be a string", id="list-email"),
    pytest.param({"external_id": "u", "email": {"a": 1}}, "email", "email must be a string", id="object-email"),
    pytest.param({"external_id": {"a": 1}}, "external_id", "external_id is required", id="object-external-id"),
    pytest.param({"external_id": 17}, "external_id", "external_id is required", id="number-external-id"),
    pytest.param({"external_id": "u", "email": "a" * 600 + "@example.com"}, "email",
                 "email is longer than 512 characters", id="long-email"),
    pytest.param({"external_id": "x" * 256}, "external_id", "external_id is longer than 255 characters",
                 id="long-external-id"),
    pytest.param({"external_id": "u", "phone": "+33"}, "phone", "unknown field", id="unknown-key"),
    pytest.param({"external_id": "u", "ios_idfa": True}, "ios_idfa", "ios_idfa must be a string", id="bool-idfa"),
    pytest.param({"external_id": "u\u0000"}, "external_id", "control characters", id="nul"),
    pytest.param({"external_id": "u", "email": "a\u200b@example.com"}, "email", "zero-width", id="zero-width"),
    pytest.param({"external_id": "u", "email": "a@localhost"}, "email", "not an email address", id="no-dot"),
    pytest.param({"external_id": "u", "android_aid": "00000000-0000-0000-0000-000000000000"}, "android_aid",
                 "all-zero", id="zero-aid"),
]


@pytest.mark.parametrize("bad, field, words", BAD_USERS)
def test_the_api_and_enter_users_refuse_the_same_rows_the_same_way(acme_api, add_canvas, tmp_path, bad, field, words):
    users = make_users(3) + [bad]
    response = acme_api.post(entries_url(add_canvas), {"users": users}, format="json")
    assert response.status_code == 400, response.json()
    error = error_of(response)
    assert (error["details"]["row"], error["details"]["field"]) == (3, field)

    with pytest.raises(services.EntryRejected) as rule:
        services.user_validate(bad)
    assert words in rule.value.message and rule.value.field == field
    assert rule.value.message[1:] in error["message"]  # the API says what the one rule says

    with pytest.raises(CommandError) as refused:
        enter_file(jsonl(tmp_path, users), add_canvas)
    assert f"line 4, {field} " in str(refused.value) and f": {rule.value.message}" in str(refused.value)
    assert "nobody was entered" in str(refused.value)
    assert not SyncRecord.objects.exists()


def test_enter_users_refuses_a_fifty_megabyte_email(tmp_path, add_canvas):
    path = tmp_path / "big.jsonl"
    with path.open("w") as handle:
        handle.write(json.dumps({"external_id": "ok", "email": "ok@example.com"}) + "\n")
        handle.write('{"external_id": "big", "email": "' + "a" * (50 * 1024 * 1024) + '@example.com"}\n')
    with pytest.raises(CommandError, match=r"line 2, email \('a{80}'\): email is longer than 512 characters"):
        enter_file(path, add_canvas)
    assert not SyncRecord.objects.exists()


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.jsonl", b'{"external_id": "a"}\n{"external_id": "\xff\xfe"}\n', r"line 2, row: not UTF-8"),
        ("bad.csv", b"external_id,email\na,a@example.com\nb\xc3,b@example.com\n", r"line 3, row: not UTF-8"),
        ("deep.jsonl", b'{"external_id": "a"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n",
         r"line 2, row: nests too deeply"),
        ("deep2.jsonl", b'{"external_id": "a", "email": ' + b"[" * 500 + b"]" * 500 + b"}\n",
         r"line 1, email \(.*\): email must be a string"),
        ("surrogate.jsonl", b'{"external_id": "a"}\n{"external_id": "u\\ud800"}\n',
         r"line 2, external_id \(.*ud800'\): external_id cannot hold control characters or lone surrogates"),
        ("surrogate2.jsonl", b'{"external_id": "a", "email": "x\\udfff@example.com"}\n',
         r"line 1, email \(.*\): not an email address: it holds control"),
        ("surrogate3.jsonl", b'{"external_id": "a", "\\ud800": "x"}\n', r"line 1, .*ud800.*: unknown field"),
        ("wide.csv", b"external_id,email\na,a@example.com\nb," + b"x" * 140_000 + b"\n",
         r"line 3, row: not CSV: field larger than field limit"),
        ("array.jsonl", b'{"external_id": "a"}\n[1, 2]\n', r"line 2, row: each line must be an object with external_id"),
        ("notjson.jsonl", b'{"external_id": "a"}\n{"external_id": \n', r"line 2, row: not JSON"),
        ("ragged.csv", b"external_id,email\na,a@example.com,extra\n", r"line 2, row: 3 fields where the header has 2"),
        ("twice.csv", b"external_id,external_id\na,b\n", r"The column external_id is named twice"),
    ],
)
def test_enter_users_refuses_unreadable_files_with_the_line_and_writes_nothing(tmp_path, add_canvas, name, content,
                                                                              message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        enter_file(path, add_canvas)
    assert not SyncRecord.objects.exists()
    assert ImportJob.objects.get().state == "refused"  # kept in the history, with its file deleted


def test_a_csv_with_a_byte_order_mark_and_crlf_lines_is_read(tmp_path, add_canvas):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfexternal_id,email,plan\r\na,a@example.com,gold\r\nb,,silver\r\n")
    output = enter_file(path, add_canvas)
    assert "Columns ignored: plan." in output and "Entered 2 users" in output


# --- Identifiers that cannot be anyone's -----------------------------------------------------------------

IMPOSSIBLE_EMAILS = [
    "jane\u0000@example.com", "jane\u0007@example.com", "jane\u0085@example.com",
    "ja\u200bne@example.com", "jane@exa\u200cmple.com", "jane\u200d@example.com", "\ufeffjane@example.com",
    "jane\u2060@example.com", "jane\u00ad@example.com",
    "jane@example.com\u202e", "\u202ajane@example.com", "jane\u202b@example.com", "jane\u202c@example.com",
    "jane\u202d@example.com", "jane\u2066@example.com", "jane\u2067@example.com", "jane\u2068@example.com",
    "jane\u2069@example.com", "jane\u200e@example.com", "jane\u200f@example.com",
    "jane@localhost", "jane@example", "jane@.com", "jane@example.", "jane@example..com", "@example.com",
    "jane@@example.com", "ja ne@example.com", "x" * 250 + "@example.com",
]


@pytest.mark.parametrize("email", IMPOSSIBLE_EMAILS)
def test_an_email_that_cannot_be_anyones_is_refused_and_never_sent(acme_api, add_canvas, sandbox, email):
    users = make_users(2) + [{"external_id": "odd", "email": email}]
    response = acme_api.post(entries_url(add_canvas), {"users": users}, format="json")

    assert response.status_code == 400, response.json()
    error = error_of(response)
    assert (error["details"]["row"], error["details"]["field"]) == (2, "email")
    assert "not an email address" in error["message"].lower()
    send_due_now()
    assert not SyncRecord.objects.exists()
    assert [r for r in sandbox.state.requests_log() if "customer_lists" in r["path"]] == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("ios_idfa", "00000000-0000-0000-0000-000000000000"),
        ("android_aid", "00000000-0000-0000-0000-000000000000"),
        ("ios_idfa", "6d92078a82464ba4ae5b76104861e7dc"),  # no dashes
        ("ios_idfa", "6d92078a-8246-4ba4-ae5b-76104861e7dc-00"),
        ("android_aid", "gd92078a-8246-4ba4-ae5b-76104861e7dc"),
        ("android_aid", "6d92078a-8246-4ba4-ae5b-76104861e7d\u0441"),  # a Cyrillic "c"
        ("ios_idfa", "a" * 63),
        ("ios_idfa", "{6d92078a-8246-4ba4-ae5b-76104861e7dc}"),
    ],
)
def test_an_ad_id_must_look_like_a_uuid_or_a_pre_hash(acme_api, add_canvas, field, value):
    response = acme_api.post(entries_url(add_canvas), {"users": [{"external_id": "u", field: value}]}, format="json")
    assert response.status_code == 400
    assert error_of(response)["details"]["field"] == field
    assert not SyncRecord.objects.exists()


def test_ordinary_identifiers_still_go_through_hashed(acme_api, add_canvas):
    users = [
        {"external_id": "a", "email": "  Jane.Doe+ads@Example.co.uk \n"},
        {"external_id": "b", "email": "Ren\u00e9@exämple.de"},
        {"external_id": "c", "email": hashlib.sha256(b"x@example.com").hexdigest().upper()},
        {"external_id": "d", "ios_idfa": "6d92078a-8246-4ba4-ae5b-76104861e7dc",
         "android_aid": "CDDA802E-FB9C-47AD-9866-0794D394C912"},
    ]
    response = acme_api.post(entries_url(add_canvas), {"users": users}, format="json")
    assert response.status_code == 202, response.json()
    stored = dict(SyncRecord.objects.values_list("external_id", "email_hash"))
    assert stored["a"] == hashlib.sha256(b"jane.doe+ads@example.co.uk").hexdigest()
    assert stored["c"] == hashlib.sha256(b"x@example.com").hexdigest()


def test_the_schema_says_which_identifiers_are_refused(acme_api):
    schema = acme_api.get("/api/v1/schema/?format=json").json()
    user = schema["paths"]["/api/v1/canvases/{id}/entries/"]["post"]["requestBody"]["content"]["application/json"]
    reference = user["schema"]["$ref"].rsplit("/", 1)[-1]
    items = schema["components"]["schemas"][reference]["properties"]["users"]["items"]
    if "$ref" in items:  # the user is a named component (EntryUser)
        items = schema["components"]["schemas"][items["$ref"].rsplit("/", 1)[-1]]
    properties = items["properties"]
    assert "zero-width" in properties["email"]["description"] and "dot in the domain" in properties["email"]["description"]
    assert "all-zero" in properties["ios_idfa"]["description"]
