"""Reading a file's lines as users: the CSV and JSON-lines readers under audiences.services.imports_csv.

Both read bytes line by line, so the byte offset after any row is known and
a job resumes by seeking to it; bytes that are not UTF-8 are kept as lone
surrogates, so the bad line is named exactly instead of failing the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from django.conf import settings

from audiences.services.entries import USER_FIELDS
from audiences.services.errors import ServiceError

DELIMITERS = (",", ";", "\t")
csv.field_size_limit(131_072)  # a longer field is not a user: refused as a bad line, not read into memory


class FileRefused(ServiceError):
    """The file as a whole cannot be read (too big, no header, not UTF-8, too many rows): nothing was entered."""


@dataclass
class RowError:
    line: int
    field: str
    value: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "value": self.value, "message": self.message}

    def __str__(self) -> str:
        value = f" ({self.value!r})" if self.value else ""
        return f"line {self.line:,}, {self.field or 'row'}{value}: {self.message}"


def header_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " _-\t")


KNOWN = {header_key(name): name for name in USER_FIELDS}
NOT_UTF8 = re.compile("[\udc80-\udcff]").search
SURROGATE = re.compile("[\ud800-\udfff]").search  # not storable as text: shown escaped


def max_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", 200 * 1024 * 1024)


def max_rows() -> int:
    return getattr(settings, "IMPORT_MAX_ROWS", 2_000_000)


@contextmanager
def opened(file: str | os.PathLike | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as handle:
            yield handle
        return
    file = getattr(file, "file", file)  # an uploaded file: the real file under Django's wrapper
    file.seek(0)
    yield file


class Lines:
    """Numbered text lines of a binary file, and the byte offset just after the last line handed out.

    Reading bytes line by line (not through a text wrapper, which reads
    ahead) keeps the offset exact, so a job resumes by seeking to it instead
    of reading again every line before its checkpoint.
    """

    def __init__(self, handle: IO[bytes]):
        self.handle, self.line, self.offset = handle, 0, 0

    def seek(self, offset: int, line: int) -> None:
        self.handle.seek(offset)
        self.offset, self.line = offset, line

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.line += 1
            self.offset += len(raw)
            if self.offset == len(raw) and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            # Bytes that are not UTF-8 become lone surrogates, so the bad line is named exactly (rows()).
            yield raw.decode("utf-8", "surrogateescape")


def size_of(handle: IO[bytes]) -> int:
    position = handle.tell()
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    handle.seek(position)
    return size


class CsvReader:
    """Numbered rows of one CSV as dicts of its known columns' trimmed, non-empty values."""

    def __init__(self, handle: IO[bytes], *, require_external_id: bool):
        size = size_of(handle)
        if size > max_bytes():
            raise FileRefused(f"The file is {size / 1e6:,.1f} MB: at most {max_bytes() / 1e6:,.0f} MB a file. "
                              "Split it into several files.")
        self.lines = Lines(handle)
        self._next = iter(self.lines)
        first = next(self._next, "")
        if NOT_UTF8(first):
            raise FileRefused("Line 1 is not UTF-8: save the file as UTF-8 (CSV UTF-8 in Excel).")
        if not first.strip():
            raise FileRefused("The file is empty: the first line must name the columns "
                              "(external_id, email, ios_idfa, android_aid).")
        self.delimiter = max(DELIMITERS, key=first.count) if any(d in first for d in DELIMITERS) else ","
        header = next(csv.reader([first], delimiter=self.delimiter), [])
        self.columns: dict[str, int] = {}
        self.ignored: list[str] = []
        for index, name in enumerate(header):
            known = KNOWN.get(header_key(name))
            if known is None:
                self.ignored.append(name.strip())
            elif known in self.columns:
                raise FileRefused(f"The column {known} is named twice in the first line.")
            else:
                self.columns[known] = index
        if not self.columns or (require_external_id and "external_id" not in self.columns):
            needed = "an external_id column" if require_external_id else "one of the columns"
            raise FileRefused(f"The first line must name {needed} (external_id, email, ios_idfa, android_aid); "
                              f"it names {', '.join(repr(h) for h in header[:6]) or 'nothing'}.")
        self.width = len(header)

    @property
    def line(self) -> int:
        return self.lines.line

    def rows(self) -> Iterator[tuple[int, dict | RowError]]:
        """(line, user) per row, or (line, RowError) for a line that is not a row of this file."""
        reader = csv.reader(self._lines(), delimiter=self.delimiter)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield self.line, RowError(self.line, "", "", f"not CSV: {exc}")
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines are skipped, not refused
            if len(row) > self.width:
                yield self.line, RowError(self.line, "", "", f"{len(row)} fields where the header has {self.width}")
                continue
            if any(NOT_UTF8(value) for value in row):
                yield self.line, RowError(self.line, "", "", "not UTF-8 text: save the file as UTF-8")
                continue
            yield self.line, {name: value for name, index in self.columns.items()
                              if index < len(row) and (value := row[index].strip())}

    def _lines(self) -> Iterator[str]:
        yield from self._next


class JsonLinesReader:
    """Numbered rows of a JSON-lines file: one object a line, handed on as it is for the validator to judge."""

    delimiter = ""
    ignored: list[str] = []  # noqa: RUF012 - never changed: unknown keys are refused by the validator

    def __init__(self, handle: IO[bytes], *, require_external_id: bool):
        size = size_of(handle)
        if size > max_bytes():
            raise FileRefused(f"The file is {size / 1e6:,.1f} MB: at most {max_bytes() / 1e6:,.0f} MB a file.")
        self.lines = Lines(handle)
        self.columns = {name: index for index, name in enumerate(USER_FIELDS)}

    @property
    def line(self) -> int:
        return self.lines.line

    def rows(self) -> Iterator[tuple[int, dict | RowError]]:
        for text in self.lines:
            if not text.strip():
                continue
            if NOT_UTF8(text):
                yield self.line, RowError(self.line, "", "", "not UTF-8 text: save the file as UTF-8")
                continue
            try:
                value = json.loads(text)
            except RecursionError:
                yield self.line, RowError(self.line, "", "", "nests too deeply to be a user")
                continue
            except ValueError as exc:
                yield self.line, RowError(self.line, "", "", f"not JSON: {exc}")
                continue
            if not isinstance(value, dict):
                yield self.line, RowError(self.line, "", "", "each line must be an object with external_id "
                                                             "and identifiers")
                continue
            yield self.line, value


def is_json_lines(name: str) -> bool:
    return str(name).lower().endswith((".jsonl", ".ndjson"))


