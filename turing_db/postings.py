"""Getting postings into the database: the demo set and user files (CSV or JSON Lines).

A file is validated row by row before anything is written; one bad row refuses the whole file, with
every problem reported by line number. Valid files are inserted in one transaction; a posting whose
normalised title and description (or source and external_id) are already stored is skipped and
reported as a duplicate — the database decides that, through the unique `postings.dedup_key`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from turing_db import database
from turing_db.reference.demo import DEFAULT_COUNT, generate_postings
from turing_db.settings import import_max_bytes

REQUIRED_FIELDS = ("job_title", "job_description")
OPTIONAL_FIELDS = ("company", "location", "employment_type", "seniority", "source", "external_id")
MAX_LENGTH = {"job_title": 500, "job_description": 2_000_000}  # characters: a 1 MiB description fits
DEFAULT_MAX_LENGTH = 1_000
BATCH_SIZE = 1_000
MAX_ERRORS_SHOWN = 20


class ImportRejected(Exception):
    """The file has bad rows; nothing was imported. `errors` lists (line, message)."""

    def __init__(self, path: Path, errors: list[tuple[int, str]]):
        self.errors = errors
        shown = "\n".join(f"  line {line}: {message}" for line, message in errors[:MAX_ERRORS_SHOWN])
        more = f"\n  … and {len(errors) - MAX_ERRORS_SHOWN} more" if len(errors) > MAX_ERRORS_SHOWN else ""
        super().__init__(f"{path}: {len(errors)} bad row(s), nothing imported:\n{shown}{more}")


@dataclass
class ImportReport:
    """What an import did: rows read, postings inserted, and the duplicates it skipped."""

    rows: int = 0
    inserted: int = 0
    duplicates: list[tuple[int, int | None]] = field(default_factory=list)  # (line, existing posting)

    def describe(self, source: str) -> str:
        lines = [
            f"{source}: {self.rows} row(s), {self.inserted} inserted, {len(self.duplicates)} duplicate(s)"
        ]
        for line, existing in self.duplicates[:MAX_ERRORS_SHOWN]:
            of = f"posting {existing}" if existing else "an earlier row of this file"
            lines.append(f"  line {line}: duplicate of {of}, skipped")
        if len(self.duplicates) > MAX_ERRORS_SHOWN:
            lines.append(f"  … and {len(self.duplicates) - MAX_ERRORS_SHOWN} more duplicates")
        return "\n".join(lines)


def validate_row(raw: Any) -> tuple[dict[str, str | None], list[str]]:
    """Check one record; return it cleaned (known fields only) and its problems."""
    if not isinstance(raw, dict):
        return {}, [f"expected an object with {', '.join(REQUIRED_FIELDS)}, got {type(raw).__name__}"]
    problems = []
    unknown = sorted(set(raw) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        problems.append(f"unknown field(s) {', '.join(map(repr, unknown))} (allowed: "
                        f"{', '.join(REQUIRED_FIELDS + OPTIONAL_FIELDS)})")  # fmt: skip
    row: dict[str, str | None] = {}
    for name in REQUIRED_FIELDS + OPTIONAL_FIELDS:
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in REQUIRED_FIELDS:
                problems.append(f"{name} is missing or empty")
            row[name] = None
            continue
        if not isinstance(value, str):
            problems.append(f"{name} must be text, got {type(value).__name__}")
            continue
        if "\x00" in value:
            problems.append(f"{name} contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # an invalid byte in the file, or a "\ud800" escape in JSON
            problems.append(f"{name} is not valid UTF-8 text: an invalid byte or an unpaired surrogate "
                            f"(U+{ord(value[exc.start]):04X}) at character {exc.start + 1}")  # fmt: skip
        limit = MAX_LENGTH.get(name, DEFAULT_MAX_LENGTH)
        if len(value) > limit:
            problems.append(f"{name} is {len(value)} characters long (at most {limit})")
        row[name] = value.strip()
    return row, problems


def read_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, record) for each record of a CSV or JSON Lines file, chosen by its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        yield from _read_csv(path)
    elif suffix in (".jsonl", ".ndjson"):
        yield from _read_jsonl(path)
    else:
        raise ValueError(f"{path}: unknown file type {suffix!r}: use .csv or .jsonl (JSON Lines)")


def _read_csv(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(
        newline="", encoding="utf-8-sig", errors="surrogateescape"
    ) as handle:  # bad bytes: per line
        reader = csv.DictReader(handle, strict=True)
        if not reader.fieldnames:
            return
        line = reader.line_num + 1
        try:
            for record in reader:
                if None in record:
                    yield line, "too many columns for the header"
                else:
                    yield line, dict(record)
                line = reader.line_num + 1
        except csv.Error as exc:
            yield line, f"unreadable CSV: {exc}"


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8", errors="surrogateescape") as handle:  # bad bytes: reported per line
        for line, content in enumerate(handle, start=1):
            if not content.strip():
                continue
            try:
                yield line, json.loads(content)
            except json.JSONDecodeError as exc:
                yield line, f"invalid JSON: {exc.msg} at column {exc.colno}"


def import_file(engine: Engine, path: Path, max_bytes: int | None = None) -> ImportReport:
    """Validate every row of `path`, then insert them all in one transaction (or raise ImportRejected).
    A file larger than `max_bytes` (TURING_IMPORT_MAX_BYTES, 512 MiB) is refused before it is read."""
    limit = max_bytes or import_max_bytes()
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"{path}: {size} bytes is more than the import limit of {limit} bytes "
                         "(TURING_IMPORT_MAX_BYTES): nothing imported; split the file or raise the limit")  # fmt: skip
    rows, errors = [], []
    try:
        for line, record in read_records(path):
            if isinstance(record, str):  # a reader's own complaint
                errors.append((line, record))
                continue
            row, problems = validate_row(record)
            errors.extend((line, problem) for problem in problems)
            rows.append({"line": line, **row})
    except UnicodeDecodeError as exc:
        errors.append((0, f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
    if errors:
        raise ImportRejected(path, errors)
    return insert_postings(engine, rows)


def insert_postings(engine: Engine, rows: Iterable[dict[str, Any]]) -> ImportReport:
    """Insert validated rows (each with its `line`) in one transaction; skip and report duplicates."""
    report = ImportReport()
    for line, posting_id, existing in database.insert_postings(engine, _batches(rows)):
        report.rows += 1
        if posting_id is not None:
            report.inserted += 1
        else:
            report.duplicates.append((line, existing))
    return report


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def load_demo(engine: Engine, count: int = DEFAULT_COUNT, seed: int = 3001) -> ImportReport:
    """Insert the deterministic demo postings (already present ones are reported as duplicates)."""
    rows = (
        {"line": number, **asdict(posting)}
        for number, posting in enumerate(generate_postings(count=count, seed=seed), start=1)
    )
    return insert_postings(engine, rows)
