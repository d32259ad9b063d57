"""Hostile text is only text: stored, rendered, passed through an actor and saved byte for byte,
never expanded twice, never executed; NUL bytes, invalid UTF-8 and unpaired surrogates are refused at
import with their line, and a file over the import limit before it is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step

from turing_db import postings
from turing_db.runner import WaveBatchProcessor

W = 8001
HOSTILE = [
    "'); DROP TABLE postings;--",
    "$$;SELECT pg_sleep(10);$$",
    "{{7*7}} and {output:t_echo} and {job_title} and {job_description}",
    "\u202eright-to-left\u202c zero\u200bwidth \u2066isolate\u2069",
    "emoji 🧪🚀👩🏽‍🔬 and combining e\u0301 a\u0308 \u0928\u093f",
    "%s %(name)s :name $1 \\N \\x00-not-a-nul",
    "<script>alert(1)</script></script>",
]


def catalogue(engine: Engine) -> tuple[int, int]:
    """Relations and functions, the sessions' own temp tables aside."""
    query = text(
        "SELECT (SELECT count(*) FROM pg_class JOIN pg_namespace AS ns ON ns.oid = relnamespace"
        "         WHERE ns.nspname !~ '^pg_(toast_)?temp_'), (SELECT count(*) FROM pg_proc)"
    )
    with engine.connect() as conn:
        relations, functions = conn.execute(query).one()
    return int(relations), int(functions)


def test_hostile_strings_round_trip_exactly_through_import_rendering_an_actor_and_the_stage_save(
    clean_data: Engine, workflows: CommittedWorkflows, tmp_path: Path
) -> None:
    engine = clean_data
    workflows.build(W, [Step("t_echo", template="{job_title}|{job_description}|{company}", entry=True)],
                    [("t_echo", "*", None)])  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text("UPDATE conversations SET saves_stage = 'summary' WHERE canonical_name = 't_echo'"))
    big = (
        "x" * (1024 * 1024 - 64) + "{job_title}"
    )  # ~1 MiB, placeholder and all (its echo fits the output limit)
    rows = [{"job_title": title, "job_description": f"about {title} #{number}", "company": title[::-1]}
            for number, title in enumerate(HOSTILE)] + [{"job_title": "big one", "job_description": big}]  # fmt: skip
    source = tmp_path / "hostile.jsonl"
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    before = catalogue(engine)

    assert postings.import_file(engine, source).inserted == len(rows)
    summary = WaveBatchProcessor(W, engine=engine).run()
    assert (summary.completed, summary.failed) == (len(rows), 0)

    with engine.connect() as conn:
        stored = conn.execute(text("SELECT job_title, job_description, company, summary FROM postings "
                                   "ORDER BY posting_id")).all()  # fmt: skip
    for row, (title, description, company, saved) in zip(rows, stored, strict=True):
        assert (title, description, company) == (row["job_title"], row["job_description"], row.get("company"))
        # rendered once: placeholders inside values stay as they are
        assert saved == f"{row['job_title']}|{row['job_description']}|{row.get('company') or ''}"
    assert catalogue(engine) == before  # nothing was created or dropped


@pytest.mark.parametrize(
    ("content", "line", "says"),
    [
        (b'{"job_title": "ok", "job_description": "fine"}\n{"job_title": "a\\u0000b", "job_description": "d"}\n',
         2, "NUL character"),
        (b'{"job_title": "ok", "job_description": "fine"}\n\n{"job_title": "\\ud800", "job_description": "d"}\n',
         3, "unpaired surrogate (U+D800) at character 1"),
        (b'{"job_title": "ok", "job_description": "fine"}\n{"job_title": "caf\xe9", "job_description": "d"}\n',
         2, "invalid byte or an unpaired surrogate (U+DCE9) at character 4"),
    ],
)  # fmt: skip
def test_a_nul_an_unpaired_surrogate_or_a_bad_byte_is_refused_with_its_line(
    clean_data: Engine, tmp_path: Path, content: bytes, line: int, says: str
) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_bytes(content)
    with pytest.raises(postings.ImportRejected) as refused:
        postings.import_file(clean_data, source)
    assert [(at, says in message) for at, message in refused.value.errors] == [(line, True)]
    with clean_data.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM postings")).scalar_one() == 0


def test_a_csv_with_a_bad_byte_is_refused_with_its_line(clean_data: Engine, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(b"job_title,job_description\nok,fine\nna\xefve,d\n")
    with pytest.raises(postings.ImportRejected) as refused:
        postings.import_file(clean_data, source)
    assert [at for at, _ in refused.value.errors] == [3]


def test_a_file_over_the_limit_is_refused_before_it_is_read(clean_data: Engine, tmp_path: Path) -> None:
    source = tmp_path / "large.jsonl"
    source.write_text('{"job_title": "t", "job_description": "d"}\n' * 10)
    with pytest.raises(ValueError, match="TURING_IMPORT_MAX_BYTES"):
        postings.import_file(clean_data, source, max_bytes=100)
