"""What `turing status` counts (posting_counts()): postings by state, each posting counted once."""

from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import add_postings

from turing_db import database


def test_posting_counts_count_each_posting_once(clean_data: Engine) -> None:
    complete = add_postings(clean_data, 2, summary="s", skills="[]", score=50)
    pending = add_postings(clean_data, 4)
    with clean_data.begin() as conn:
        conn.execute(text("UPDATE postings SET enabled = false WHERE posting_id = ANY(:ids)"),
                     {"ids": [complete[0], pending[0]]})  # fmt: skip
        conn.execute(text("UPDATE postings SET quarantined_at = now(), quarantine_reason = 'test' "
                          "WHERE posting_id = :id"), {"id": pending[1]})  # fmt: skip
    assert database.posting_counts(clean_data) == {
        "total": 6, "complete": 2, "quarantined": 1, "disabled": 2, "failed": 0, "pending": 2,
    }  # fmt: skip
