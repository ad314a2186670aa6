"""Enter the users of a CSV or JSON-lines file into a canvas, in batches, resumably.

    python manage.py enter_users users.csv --canvas 12
    python manage.py enter_users users.jsonl --canvas 12 --batch-size 5000

CSV: a header row with `external_id` and any of `email`, `ios_idfa`,
`android_aid` (other columns are ignored, and named). JSON lines: one object
per line with those keys and no other. Rows are numbered from 1 (the header
is not a row); errors name the row and its line in the file.

Every row is checked by services.user_validate, the rule the API follows
(strings only, the API's lengths, identifiers that can be someone's), and
a user is entered once per batch (services.users_fold, as once per API
call). The whole file is checked before anything is entered: a bad row, a
line that is not UTF-8 or not JSON, a CSV field over 131,072 bytes, refuse
the run with its row and line, and nothing is entered.

Each batch goes through services.users_enter_once under a key made of this
run's id and the batch's first row, and the next row to enter is saved in
`<file>.progress.json` after every batch. Run the same command again after
an interruption (or a refused row, once fixed) and it continues where it
stopped; a batch that was entered just before a crash is not entered twice.
`--resume-from ROW` starts a new run at that row, `--restart` a new run at
row 1 (both enter again whatever they cover).
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audiences import services
from audiences.models import Canvas

FIELDS = ("external_id", "email", "ios_idfa", "android_aid")
COUNTS = ("entered", "pending", "not_synced", "already_in_audience", "waiting_in_delay", "exited")


class Command(BaseCommand):
    help = "Enter users from a CSV or JSON-lines file into a canvas, in batches, resumably."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--canvas", type=int, required=True, help="the canvas's id (it must be active)")
        parser.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file's extension")
        parser.add_argument("--batch-size", type=int, default=5000, help="users per transaction (default 5,000)")
        parser.add_argument("--resume-from", type=int, metavar="ROW", help="start at this row (1 = the first)")
        parser.add_argument("--restart", action="store_true", help="ignore saved progress; enter every row again")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, file: Path, canvas: int, batch_size: int, resume_from: int | None, restart: bool,
               no_progress: bool, **options):
        if not file.is_file():
            raise CommandError(f"No file {file}.")
        if not 1 <= batch_size <= 10_000:
            raise CommandError("--batch-size is between 1 and 10,000.")
        if resume_from is not None and resume_from < 1:
            raise CommandError("--resume-from counts rows from 1.")
        target = Canvas.objects.select_related("workspace").filter(pk=canvas).first()
        if target is None:
            raise CommandError(f"No canvas {canvas}.")
        if target.status != Canvas.Status.ACTIVE:
            raise CommandError(f"Canvas {canvas} (“{target}”) is {target.status}: launch it before entering users.")
        fmt = options["format"] or _format_of(file)
        progress = SavedProgress(file, canvas=target.pk)
        state = progress.load()
        new_run = restart or resume_from is not None or state is None
        if new_run:
            start = resume_from or 1
        elif state.get("finished"):
            raise CommandError(
                f"{file} was entered completely into canvas {canvas} on {state['updated_at']}. "
                f"Use --restart to enter every row again."
            )
        else:
            start = state["next_row"]

        # The whole file first, batch by batch as it will be entered: a bad row refuses the run
        # before anything is written.
        total, ignored = _check_file(file, fmt, start=start, size=batch_size)
        if ignored:
            self.stdout.write(f"Columns ignored: {', '.join(ignored)}.")
        if new_run:
            state = progress.new(start)
        else:
            self.stdout.write(f"Resuming at row {start:,} (saved in {progress.path}).")

        totals = dict.fromkeys(COUNTS, 0)
        folded = replayed = 0
        bar = _bar(self.stderr, enabled=not no_progress)
        task = bar.add_task("Entering users", total=total)
        with bar:
            for first_row, lines, batch in _batches(_rows(file, fmt), start=start, size=batch_size):
                checked = _checked(file, first_row, lines, batch)
                key = f"enter_users:{state['run']}:{first_row}"
                try:
                    _, answer, was_replayed = services.users_enter_once(
                        canvas=target, users=checked.users, idempotency_key=key,
                        fingerprint=services.entry_fingerprint(canvas=target, users=checked.users),
                    )
                except services.ServiceError as exc:
                    raise CommandError(f"{exc} Rows before {first_row:,} were entered; run again to continue.") \
                        from None
                for name in COUNTS:
                    totals[name] += answer.get(name, 0)
                folded += checked.duplicates_folded
                replayed += len(checked.users) if was_replayed else 0
                state = progress.save(state, next_row=first_row + len(batch))
                bar.advance(task, len(batch))
        progress.save(state, finished=True)

        self.stdout.write(
            f"Entered {totals['entered']:,} users into canvas {target.pk} (“{target}”): "
            f"{totals['pending']:,} pending (on their way to Pinterest), {totals['not_synced']:,} not synced (no match field), "
            f"{totals['already_in_audience']:,} already in the audience; "
            f"{totals['waiting_in_delay']:,} now wait in a delay step and {totals['exited']:,} reached the canvas's "
            "last step."
        )
        if folded:
            self.stdout.write(
                f"{folded:,} rows repeated a user of their batch (same external_id and identifiers) and were "
                f"folded into it."
            )
        if replayed:
            self.stdout.write(
                f"{replayed:,} of them had been entered before an interruption and were not entered again."
            )


class SavedProgress:
    """The next row to enter, saved next to the input file after every batch."""

    def __init__(self, file: Path, *, canvas: int):
        self.path = file.with_name(file.name + ".progress.json")
        self.canvas = canvas
        self.file_size = file.stat().st_size

    def load(self) -> dict | None:
        try:
            state = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if state.get("canvas") != self.canvas:
            raise CommandError(
                f"{self.path} holds progress for canvas {state.get('canvas')}, not {self.canvas}. "
                f"Use --restart (or --resume-from ROW) to enter this file into canvas {self.canvas}."
            )
        return state

    def new(self, start: int) -> dict:
        return self.save({"canvas": self.canvas, "run": uuid.uuid4().hex}, next_row=start)

    def save(self, state: dict, **changes) -> dict:
        state = {**state, **changes, "file_size": self.file_size, "updated_at": timezone.now().isoformat()}
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(json.dumps(state, indent=2))
            os.replace(temporary, self.path)
        except OSError as exc:
            raise CommandError(f"Cannot save progress in {self.path} ({exc}); next row: {state['next_row']}. "
                               f"Continue with --resume-from {state['next_row']}.") from None
        return state


def _format_of(file: Path) -> str:
    suffix = file.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise CommandError(f"Cannot tell the format of {file.name}: use --format csv or --format jsonl.")


def _rows(file: Path, fmt: str) -> Iterator[tuple[int, dict]]:
    """(line number, user) for every row of the file, in order.

    CSV rows have the known columns' values trimmed (empty ones dropped);
    JSON lines are handed on as they are, for services.user_validate to judge.
    A line that is not UTF-8, not JSON or not CSV (a field over the CSV limit)
    is a CommandError naming it.
    """
    with file.open("rb") as handle:
        lines = _text_lines(handle, file.name)
        if fmt == "csv":
            yield from _csv_rows(lines, file.name)
            return
        for line_number, line in lines:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except RecursionError:
                raise CommandError(f"Line {line_number:,} of {file.name} nests too deeply to be a user.") from None
            except ValueError as exc:
                raise CommandError(f"Line {line_number:,} of {file.name} is not JSON: {exc}.") from None
            yield line_number, value


def _text_lines(handle, name: str) -> Iterator[tuple[int, str]]:
    """Numbered lines of a UTF-8 file (a byte order mark is dropped); CommandError at the first that is not UTF-8."""
    for line_number, raw in enumerate(handle, start=1):
        if line_number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            yield line_number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"Line {line_number:,} of {name} is not UTF-8 (byte {exc.start + 1}); save the file as UTF-8."
            ) from None


def _csv_rows(lines: Iterator[tuple[int, str]], name: str) -> Iterator[tuple[int, dict]]:
    position = {"line": 0}

    def text():
        for line_number, line in lines:
            position["line"] = line_number
            yield line

    reader = csv.reader(text())
    try:
        header = next(reader, None)
        if not header or "external_id" not in header:
            raise CommandError(f"{name} needs a header row with an external_id column "
                               f"(and any of email, ios_idfa, android_aid).")
        twice = sorted({column for column in header if column in FIELDS and header.count(column) > 1})
        if twice:
            raise CommandError(f"{name} has the column {twice[0]} twice in its header.")
        columns = {column: index for index, column in enumerate(header) if column in FIELDS}
        for row in reader:
            if not row:
                continue
            if len(row) > len(header):
                raise CommandError(f"Line {position['line']:,} of {name} has more fields than the header.")
            yield position["line"], {
                column: value for column, index in columns.items() if index < len(row) and (value := row[index].strip())
            }
    except csv.Error as exc:
        raise CommandError(f"Line {position['line']:,} of {name} is not CSV: {exc}.") from None


def _csv_ignored_columns(file: Path) -> list[str]:
    with file.open("rb") as handle:
        for _, line in _text_lines(handle, file.name):
            try:
                header = next(csv.reader([line]), [])
            except csv.Error:
                return []
            return [column for column in header if column not in FIELDS]
    return []


def _batches(rows: Iterator[tuple[int, dict]], *, start: int, size: int) -> Iterator[tuple[int, list[int], list]]:
    """(first row number, the rows' line numbers, the rows) per batch, from row `start` on."""
    batch: list = []
    lines: list[int] = []
    first = start
    for number, (line, row) in enumerate(rows, start=1):
        if number < start:
            continue
        if not batch:
            first = number
        batch.append(row)
        lines.append(line)
        if len(batch) == size:
            yield first, lines, batch
            batch, lines = [], []
    if batch:
        yield first, lines, batch


def _checked(file: Path, first_row: int, lines: list[int], batch: list) -> services.CheckedUsers:
    """services.users_validate on one batch; a refused row becomes a CommandError naming its row and line."""
    try:
        return services.users_validate(batch)
    except services.EntryRejected as exc:
        where = f"line {lines[exc.row]:,} of {file.name}"
        message = exc.message
        if exc.other_row is not None:
            message = (f"same external_id as row {first_row + exc.other_row:,} (line {lines[exc.other_row]:,}), "
                       f"with other identifiers: a user is entered once, so keep one row per user")
        elif exc.field and exc.field not in FIELDS:
            message = f"{message} (found {ascii(exc.field)[:80]})"
        raise CommandError(
            f"Row {first_row + exc.row:,}: {message} ({where}). Nothing was entered: fix the row and run "
            f"the same command again."
        ) from None


def _check_file(file: Path, fmt: str, *, start: int, size: int) -> tuple[int, list[str]]:
    """Every row from `start` on checked as it will be entered; returns (rows, CSV columns ignored)."""
    count = 0
    for first_row, lines, batch in _batches(_rows(file, fmt), start=start, size=size):
        _checked(file, first_row, lines, batch)
        count += len(batch)
    return count, (_csv_ignored_columns(file) if fmt == "csv" else [])


def _bar(stream, *, enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(file=stream, quiet=not enabled)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=False)
