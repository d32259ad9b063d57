"""Importing postings: bad rows refuse the whole file by line number; duplicates are skipped and named."""

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from turing_db.database import count_postings
from turing_db.postings import ImportRejected, import_file, load_demo


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_valid_csv_is_imported_with_every_field(clean_data: Engine, tmp_path: Path) -> None:
    path = tmp_path / "postings.csv"
    path.write_text(
        "job_title,job_description,company,location,external_id\n"
        'Line Cook,"Prepare food.\nKeep the kitchen clean, safe and tidy.",Chez {Nous},"Lyon, France",c-1\n'
        "Nurse,Care for patients; 100% dedication,St Mary's,Leeds,c-2\n"
    )
    report = import_file(clean_data, path)
    assert (report.rows, report.inserted, report.duplicates) == (2, 2, [])
    with clean_data.connect() as conn:
        row = conn.execute(text("SELECT * FROM postings WHERE external_id = 'c-1'")).one()
    assert row.job_description == "Prepare food.\nKeep the kitchen clean, safe and tidy."
    assert (row.company, row.location, row.source) == ("Chez {Nous}", "Lyon, France", "import")


def test_bad_csv_rows_are_reported_by_line_and_nothing_is_imported(
    clean_data: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "job_title,job_description\n"
        "Cook,Prepares food.\n"  # line 2: fine
        ',"Has no title,\nand spans two lines"\n'  # lines 3-4: no title
        "Baker,\n"  # line 5: no description
        "Welder,Welds.,extra\n"  # line 6: too many columns
    )
    with pytest.raises(ImportRejected) as caught:
        import_file(clean_data, path)
    assert [line for line, _ in caught.value.errors] == [3, 5, 6]
    assert "line 3: job_title is missing or empty" in str(caught.value)
    assert "line 6: too many columns" in str(caught.value)
    assert count_postings(clean_data) == 0


def test_bad_jsonl_rows_are_reported_by_line(clean_data: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps({"job_title": "Cook", "job_description": "Cooks."}) + "\n"
        "\n"
        "{not json\n"
        + json.dumps({"job_title": "Baker", "job_description": 42}) + "\n"
        + json.dumps(["a", "list"]) + "\n"
        + json.dumps({"job_title": "Driver", "job_description": "Drives.", "salary": "high"}) + "\n"
    )  # fmt: skip
    with pytest.raises(ImportRejected) as caught:
        import_file(clean_data, path)
    messages = dict(caught.value.errors)
    assert sorted(messages) == [3, 4, 5, 6]
    assert messages[3].startswith("invalid JSON")
    assert messages[4] == "job_description must be text, got int"
    assert "expected an object" in messages[5]
    assert "unknown field(s) 'salary'" in messages[6]
    assert count_postings(clean_data) == 0


def test_duplicates_are_skipped_and_named(clean_data: Engine, tmp_path: Path) -> None:
    first = write_jsonl(
        tmp_path / "first.jsonl", [{"job_title": "Line Cook", "job_description": "Prepare food."}]
    )
    import_file(clean_data, first)
    with clean_data.connect() as conn:
        existing = conn.execute(text("SELECT posting_id FROM postings")).scalar_one()
    second = write_jsonl(
        tmp_path / "second.jsonl",
        [
            {
                "job_title": "LINE COOK ",
                "job_description": "prepare   food.",
            },  # same text, other case/spacing
            {"job_title": "Baker", "job_description": "Bake bread."},
            {"job_title": "Baker", "job_description": "Bake bread."},  # repeated inside the file
        ],
    )
    report = import_file(clean_data, second)
    assert (report.rows, report.inserted) == (3, 1)
    assert report.duplicates == [(1, existing), (3, None)]
    assert "line 3: duplicate of an earlier row of this file" in report.describe("second.jsonl")
    assert count_postings(clean_data) == 2


def test_unknown_file_type_is_refused(clean_data: Engine, tmp_path: Path) -> None:
    path = tmp_path / "postings.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(ValueError, match="use .csv or .jsonl"):
        import_file(clean_data, path)


def test_demo_load_is_idempotent(clean_data: Engine) -> None:
    first = load_demo(clean_data, count=120)
    again = load_demo(clean_data, count=120)
    assert (first.inserted, len(first.duplicates)) == (120, 0)
    assert (again.inserted, len(again.duplicates)) == (0, 120)
    assert count_postings(clean_data) == 120
