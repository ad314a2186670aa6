"""Enter the users of a CSV or JSON-lines file into a canvas, in batches, resumably.

    python manage.py enter_users users.csv --canvas 12
    python manage.py enter_users users.jsonl --canvas 12 --batch-size 5000

CSV: a header row with `external_id` and any of `email`, `ios_idfa`,
`android_aid` (other columns are ignored). JSON lines: one object per line
with the same keys. Rows are numbered from 1 (the header is not a row).

Each batch goes through services.users_enter_once under a key made of this
run's id and the batch's first row, and the next row to enter is saved in
`<file>.progress.json` after every batch. Run the same command again after
an interruption (or a refused row, once fixed) and it continues where it
stopped; a batch that was entered just before a crash is not entered twice.
`--resume-from ROW` starts a new run at that row, `--restart` a new run at
row 1 (both enter again whatever they cover).
"""

from __future__ import annotations

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
        if restart or resume_from is not None or state is None:
            start = resume_from or 1
            state = progress.new(start)
        elif state.get("finished"):
            raise CommandError(
                f"{file} was entered completely into canvas {canvas} on {state['updated_at']}. "
                f"Use --restart to enter every row again."
            )
        else:
            self.stdout.write(f"Resuming at row {state['next_row']:,} (saved in {progress.path}).")
        start = state["next_row"]

        total = _count_rows(file, fmt)
        totals = dict.fromkeys(COUNTS, 0)
        replayed = 0
        bar = _bar(self.stderr, enabled=not no_progress)
        task = bar.add_task("Entering users", total=max(total - start + 1, 0))
        with bar:
            for first_row, batch in _batches(_rows(file, fmt), start=start, size=batch_size):
                key = f"enter_users:{state['run']}:{first_row}"
                try:
                    _, answer, was_replayed = services.users_enter_once(
                        canvas=target, users=batch, idempotency_key=key,
                        fingerprint=services.entry_fingerprint(canvas=target, users=batch),
                    )
                except services.EntryRejected as exc:
                    raise CommandError(
                        f"Row {first_row + exc.row:,}: {exc.message}. Nothing of rows {first_row:,}–"
                        f"{first_row + len(batch) - 1:,} was entered. Fix the row and run the same command "
                        f"again to continue from row {first_row:,}."
                    ) from None
                except services.ServiceError as exc:
                    raise CommandError(f"{exc} Rows before {first_row:,} were entered; run again to continue.") \
                        from None
                for name in COUNTS:
                    totals[name] += answer.get(name, 0)
                replayed += len(batch) if was_replayed else 0
                state = progress.save(state, next_row=first_row + len(batch))
                bar.advance(task, len(batch))
        progress.save(state, finished=True)

        self.stdout.write(
            f"Entered {totals['entered']:,} users into canvas {target.pk} (“{target}”): "
            f"{totals['pending']:,} pending, {totals['not_synced']:,} not synced (no match field), "
            f"{totals['already_in_audience']:,} already in the audience, "
            f"{totals['waiting_in_delay']:,} waiting in a delay, {totals['exited']:,} exited."
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


def _rows(file: Path, fmt: str) -> Iterator[dict]:
    """Users of the file in order, each with only the known keys (empty values dropped)."""
    with file.open(newline="", encoding="utf-8-sig") as handle:
        if fmt == "csv":
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "external_id" not in reader.fieldnames:
                raise CommandError(f"{file.name} needs a header row with an external_id column "
                                   f"(and any of email, ios_idfa, android_aid).")
            for row in reader:
                yield {k: v for k in FIELDS if (v := (row.get(k) or "").strip())}
            return
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise CommandError(f"Line {line_number} of {file.name} is not JSON: {exc}.") from None
            if not isinstance(value, dict):
                raise CommandError(f"Line {line_number} of {file.name} is not a JSON object.")
            yield {k: value[k] for k in FIELDS if value.get(k) not in (None, "")}


def _count_rows(file: Path, fmt: str) -> int:
    with file.open(newline="", encoding="utf-8-sig") as handle:
        if fmt == "csv":
            return max(sum(1 for row in csv.reader(handle) if row) - 1, 0)
        return sum(1 for line in handle if line.strip())


def _batches(rows: Iterator[dict], *, start: int, size: int) -> Iterator[tuple[int, list[dict]]]:
    batch: list[dict] = []
    first = start
    for number, row in enumerate(rows, start=1):
        if number < start:
            continue
        if not batch:
            first = number
        batch.append(row)
        if len(batch) == size:
            yield first, batch
            batch = []
    if batch:
        yield first, batch


def _bar(stream, *, enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(file=stream, quiet=not enabled)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=False)
