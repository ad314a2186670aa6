"""Reading files: headers however they are written, the delimiter found, UTF-8 with or without a BOM, limits first."""

from __future__ import annotations

import io

import pytest

from audiences.services import imports_csv

pytestmark = pytest.mark.django_db


def read(data: bytes, **options):
    checked = imports_csv.check_file(io.BytesIO(data), **options)
    users = [user for _, _, batch in imports_csv.batches(io.BytesIO(data), 100) for user in batch]
    return checked, users


@pytest.mark.parametrize("data", [
    b"external_id,email\nu1,ann@example.com\n",
    b"External ID,E-mail\nu1,ann@example.com\n",
    b" EXTERNAL_ID ; Email \nu1;ann@example.com\n",
    b"externalid\temail\nu1\tann@example.com\n",
    b"\xef\xbb\xbfExternal Id,EMAIL\r\nu1,ann@example.com\r\n",
    b'"external_id","email","plan"\n"u1","ann@example.com","gold"\n\n',
])
def test_headers_delimiters_and_byte_order_marks_all_read_the_same(data):
    checked, users = read(data)
    assert checked.ok and checked.rows == 1
    assert users == [{"external_id": "u1", "email": "ann@example.com"}]


def test_the_delimiter_and_the_ignored_columns_are_reported():
    checked, _ = read(b"external_id;email;plan;Country\nu1;a@example.com;gold;FR\n")
    assert (checked.delimiter, checked.ignored, checked.columns) == (";", ["plan", "Country"],
                                                                    ["external_id", "email"])


def test_every_bad_row_is_named_with_its_line_field_and_value_up_to_a_cap():
    lines = ["external_id,email"] + [f"u{i},broken-{i}" for i in range(150)] + ["u-ok,ok@example.com"]
    checked, _ = read(("\n".join(lines) + "\n").encode())
    assert not checked.ok and checked.refused == 150 and checked.rows == 151
    assert len(checked.errors) == imports_csv.ERRORS_SHOWN and checked.errors_more == 50
    first = checked.errors[0]
    assert (first.line, first.field, first.value) == (2, "email", "broken-0")
    assert "and 145 more bad rows" in imports_csv.errors_text(checked)


def test_a_file_over_the_size_or_row_limit_is_refused_before_it_is_read_whole(settings):
    settings.IMPORT_MAX_BYTES = 1000
    with pytest.raises(imports_csv.FileRefused, match="at most 0 MB"):
        read(b"external_id\n" + b"u1\n" * 1000)
    settings.IMPORT_MAX_BYTES = 10**9
    settings.IMPORT_MAX_ROWS = 10
    with pytest.raises(imports_csv.FileRefused, match="more than 10 rows"):
        read(b"external_id\n" + b"".join(f"u{i}\n".encode() for i in range(11)))


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"email,plan\na@example.com,gold\n", "external_id column"),
    (b"external_id,External ID\nu1,u2\n", "named twice"),
    (b"\xffexternal_id\nu1\n", "not UTF-8"),
])
def test_a_file_that_cannot_be_read_as_a_whole_is_refused_with_the_reason(data, message):
    with pytest.raises(imports_csv.FileRefused, match=message):
        read(data)


def test_suppression_files_need_no_external_id():
    checked = imports_csv.check_file(io.BytesIO(b"Email\nann@example.com\n\nbad\n"), require_external_id=False,
                                     validate=imports_csv.suppression_row)
    assert checked.rows == 2 and [(e.line, e.field) for e in checked.errors] == [(4, "email")]
