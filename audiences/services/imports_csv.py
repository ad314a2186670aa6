"""Reading a CSV of users: streamed, checked whole, then handed out in batches.

One reader for every file the service takes in: the canvas upload and
`enter_users`, the suppression upload and `suppress`, a step's preview and a
segment's snapshot file. Memory stays bounded whatever the file's size: rows
are read one at a time, and only the first ERRORS_SHOWN bad rows are kept.

    checked = check_file(path)            # every row, before anything is written
    if checked.ok:
        for first_line, last_line, users in batches(path, 5000):
            ...                           # users: dicts with external_id and any of
                                          # email, ios_idfa, android_aid (as the entry path takes them)

The rules: UTF-8, with or without a byte order mark; the delimiter is the
one the header uses most (comma, semicolon or tab); headers are matched
without regard to case, spaces, hyphens and underscores ("External ID" is
external_id); other columns are ignored and named. Lines are counted as a
text editor does: the header is line 1, the first user line 2. Every bad
row is named with its line, field and value (the first ERRORS_SHOWN, and a
count of the rest). A row repeating an earlier row's external_id within its
batch with other identifiers is bad (a user enters once per batch, as once
per API call); an identical repeat is folded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from audiences.services.entries import user_validate, users_fold
from audiences.services.errors import EntryRejected
from audiences.services.imports_rows import (  # noqa: F401 - FileRefused, RowError, max_bytes: this module's interface
    SURROGATE,
    CsvReader,
    FileRefused,
    JsonLinesReader,
    RowError,
    is_json_lines,
    max_bytes,
    max_rows,
    opened,
)
from audiences.services.suppression import suppression_entry_validate

ERRORS_SHOWN = 100
VALUE_SHOWN = 80  # characters of a bad value shown back


@dataclass
class Checked:
    """check_file's answer: how many rows, which were bad, and how the file was read."""

    good: int = 0  # rows that passed
    errors: list[RowError] = field(default_factory=list)
    errors_more: int = 0  # bad rows beyond the ERRORS_SHOWN kept
    columns: list[str] = field(default_factory=list)  # the known columns found, in the file's order
    ignored: list[str] = field(default_factory=list)  # other columns, as the header spells them
    delimiter: str = ","
    duplicates_folded: int = 0
    last_line: int = 0
    offset: int = 0  # bytes read up to last_line (where a check resumes)

    @property
    def rows(self) -> int:
        """Rows read: the good and the bad."""
        return self.good + self.refused

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def refused(self) -> int:
        return len(self.errors) + self.errors_more


def _row_error(line: int, user: dict, exc: EntryRejected) -> RowError:
    name = exc.field or ""
    value = user.get(name, "") if name in user else ""  # an unknown key of a JSON line is named too

    def shown(text: object) -> str:  # lone surrogates and NUL cannot be stored as text (PostgreSQL): escaped
        text = str(text)
        return (ascii(text)[1:-1] if SURROGATE(text) or "\x00" in text else text)[:VALUE_SHOWN]

    return RowError(line, shown(name), shown(value), exc.message)


def user_row(user: dict, *, row: int = 0) -> dict:
    """The entry path's rule for one user of a file (external_id required)."""
    return user_validate(user, row=row)


Validator = Callable[..., object]


@dataclass
class Batch:
    """Valid rows of a file, in order: their lines, and the byte offset just after the last of them."""

    first_line: int = 0
    last_line: int = 0
    end_offset: int = 0
    duplicates_folded: int = 0  # rows repeating a user of the batch, folded into it
    lines: list[int] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)


def _batched(file, size: int, *, after_line: int, require_external_id: bool, validate: Validator,
             checked: Checked | None, json_lines: bool = False, after_offset: int = 0) -> Iterator[Batch]:
    """Batches of valid rows after `after_line`; bad rows go to `checked` (if given) and out of the batch."""
    limit = max_rows()
    with opened(file) as handle:
        kind = JsonLinesReader if json_lines else CsvReader
        reader = kind(handle, require_external_id=require_external_id)
        if checked is not None:
            checked.delimiter, checked.ignored = reader.delimiter, reader.ignored
            checked.columns = sorted(reader.columns, key=reader.columns.get)
        if after_offset:  # a job resuming: straight to the line after its checkpoint
            reader.lines.seek(after_offset, after_line)
        batch = Batch()
        count = max(0, after_line - 1) if after_offset else 0  # rows before the checkpoint, when skipped
        for line, user in reader.rows():
            count += 1
            if count > limit:
                raise FileRefused(f"The file has more than {limit:,} rows: split it into several files.")
            if line <= after_line:
                continue
            if isinstance(user, dict):
                try:
                    user = validate(user, row=len(batch.users))
                except EntryRejected as exc:
                    user = _row_error(line, user, exc)
            if isinstance(user, RowError):
                if checked is not None:
                    _note(checked, user)
                continue
            if not batch.users:
                batch.first_line = line
            batch.users.append(user)
            batch.lines.append(line)
            batch.last_line, batch.end_offset = line, reader.lines.offset
            if len(batch.users) == size:
                yield batch
                batch = Batch()
        if batch.users:
            yield batch
        if checked is not None:
            checked.last_line = reader.line


def _note(checked: Checked, error: RowError) -> None:
    if len(checked.errors) < ERRORS_SHOWN:
        checked.errors.append(error)
    else:
        checked.errors_more += 1


def _fold(batch: Batch, checked: Checked | None, *, fold: bool = True) -> list[dict]:
    """users_fold on a batch; a conflicting repeat is a bad row (and the whole batch stays out)."""
    if not fold:  # suppression entries: each is listed, repeats change nothing
        return batch.users
    try:
        folded = users_fold(batch.users)
    except EntryRejected as exc:
        if checked is not None:
            first = batch.lines[exc.other_row] if exc.other_row is not None else 0
            _note(checked, RowError(batch.lines[exc.row], "external_id",
                                    str(batch.users[exc.row]["external_id"])[:VALUE_SHOWN],
                                    f"same external_id as line {first:,}, with other identifiers: "
                                    "keep one row per user"))
        return []
    if checked is not None:
        checked.duplicates_folded += folded.duplicates_folded
    return folded.users


def check_file(file, *, batch_size: int = 5000, require_external_id: bool = True,
               validate: Validator = user_row, after_line: int = 0, checked: Checked | None = None,
               progress: Callable[[Checked], None] | None = None, json_lines: bool = False,
               after_offset: int = 0) -> Checked:
    """Every row of the file checked as it will be entered (the same batches), nothing written.

    `file` is a path or a binary file (it is read from its start). Raises
    FileRefused when the file as a whole cannot be read; bad rows are in the
    answer's `errors`. `progress` is called after each batch with the figures
    so far; `after_line` and `checked` continue an interrupted check.
    """
    checked = checked or Checked()
    for batch in _batched(file, batch_size, after_line=after_line, require_external_id=require_external_id,
                          validate=validate, checked=checked, json_lines=json_lines, after_offset=after_offset):
        checked.good += len(batch.users)
        _fold(batch, checked, fold=require_external_id)
        checked.last_line, checked.offset = batch.last_line, batch.end_offset
        if progress is not None:
            progress(checked)
    return checked


def batches(file, size: int = 5000, *, after_line: int = 0, require_external_id: bool = True,
            validate: Validator = user_row, json_lines: bool = False) -> Iterator[tuple[int, int, list[dict]]]:
    """(first line, last line, users) per batch of a file check_file found good, after `after_line`.

    Users are dicts with external_id and any of email, ios_idfa, android_aid,
    validated and normalised as the entry path takes them, each user once per
    batch. Bad rows are skipped (check the file first: a file with any bad
    row should enter nobody).
    """
    for batch in _batched(file, size, after_line=after_line, require_external_id=require_external_id,
                          validate=validate, checked=None, json_lines=json_lines):
        yield batch.first_line, batch.last_line, _fold(batch, None, fold=require_external_id)


def batches_from(file, size: int, *, after_line: int = 0, after_offset: int = 0, require_external_id: bool = True,
                 validate: Validator = user_row, json_lines: bool = False) -> Iterator[Batch]:
    """Like batches(), as Batch objects with the byte offset where the next batch starts (a job's checkpoint)."""
    for batch in _batched(file, size, after_line=after_line, after_offset=after_offset,
                          require_external_id=require_external_id, validate=validate, checked=None,
                          json_lines=json_lines):
        batch.users = _fold(batch, None, fold=require_external_id)
        batch.duplicates_folded = len(batch.lines) - len(batch.users)
        yield batch


def read_users(file, *, limit: int, require_external_id: bool = True) -> tuple[list[dict], Checked]:
    """A small file's users as one list (a preview's sample); FileRefused past `limit` rows."""
    checked = check_file(file, batch_size=limit + 1, require_external_id=require_external_id)
    if checked.rows > limit:
        raise FileRefused(f"At most {limit:,} rows here; this file has {checked.rows:,}.")
    users: list[dict] = []
    if checked.ok:
        for _, _, batch in batches(file, limit + 1, require_external_id=require_external_id):
            users.extend(batch)
    return users, checked


def errors_text(checked: Checked, *, shown: int = 5) -> str:
    """The first bad rows in one sentence, for a command's or a page's message."""
    parts = [str(error) for error in checked.errors[:shown]]
    rest = checked.refused - len(parts)
    return "; ".join(parts) + (f"; and {rest:,} more bad rows" if rest else "")


def suppression_row(entry: dict, *, row: int = 0) -> dict:
    """The suppression list's rule for one row (external_id optional); the row as it was read."""

    suppression_entry_validate(entry, row=row)
    return entry
