"""How long validate_workflow() takes on a large generated workflow (target: under 100 ms).

The workflow has STEPS conversations and 3 branches each (PASS → next, SKIP → the one after, '*' →
next; every 50th step loops back three steps instead of skipping, bounded by max_visits), every
template uses a postings column and the entry step's output. It is built inside a transaction that
is rolled back, so the database is left as it was.
"""

from __future__ import annotations

import statistics
import time

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from bench.results import Result
from turing_db import database

WORKFLOW_ID = 9001
STEPS = 2000
REPEATS = 7

BUILD = """
INSERT INTO actors (actor_name, actor_type, config) VALUES ('bench_actor', 'python', '{"callable": "bench.actors:instant"}');
INSERT INTO workflows (workflow_id, workflow_name) VALUES (:workflow_id, 'validation benchmark');
INSERT INTO conversations (conversation_name, canonical_name, actor_id)
SELECT format('Step %s', i), format('bench_step_%s', i), (SELECT actor_id FROM actors WHERE actor_name = 'bench_actor')
  FROM generate_series(1, :steps) AS i;
INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order, is_entry_point, max_visits)
SELECT :workflow_id, c.conversation_id, i, i = 1, CASE WHEN i % 50 = 47 THEN 3 END
  FROM generate_series(1, :steps) AS i JOIN conversations c ON c.canonical_name = format('bench_step_%s', i);
INSERT INTO instructions (conversation_id, prompt_template)
SELECT c.conversation_id,
       CASE WHEN i = 1 THEN 'Read {job_title}: {job_description}'
            ELSE format('Step %s of {job_title}, given {output:bench_step_1} and {{literal braces}}', i) END
  FROM generate_series(1, :steps) AS i JOIN conversations c ON c.canonical_name = format('bench_step_%s', i);
INSERT INTO instruction_steps (instruction_id, branch_condition, next_conversation_id, branch_priority)
SELECT instruction.instruction_id, branch.condition, target.conversation_id, branch.priority
  FROM generate_series(1, :steps) AS i
  JOIN conversations source ON source.canonical_name = format('bench_step_%s', i)
  JOIN instructions instruction ON instruction.conversation_id = source.conversation_id
 CROSS JOIN LATERAL (VALUES
        ('PASS', 10, CASE WHEN i < :steps THEN i + 1 END),
        (CASE WHEN i % 50 = 0 THEN 'AGAIN' ELSE 'SKIP' END, 20,
         CASE WHEN i % 50 = 0 THEN i - 3 WHEN i + 2 <= :steps THEN i + 2 END),
        ('*', 100, CASE WHEN i < :steps THEN i + 1 END)) AS branch (condition, priority, target_number)
  LEFT JOIN conversations target ON target.canonical_name = format('bench_step_%s', branch.target_number);
ANALYZE actors, conversations, workflow_conversations, instructions, instruction_steps;
"""


def build(conn: Connection) -> tuple[int, int]:
    conn.execute(text(BUILD), {"workflow_id": WORKFLOW_ID, "steps": STEPS})
    steps, branches = conn.execute(
        text(
            "SELECT (SELECT count(*) FROM workflow_steps(:id)), (SELECT count(*) FROM workflow_branches(:id))"
        ),
        {"id": WORKFLOW_ID},
    ).one()
    return steps, branches


def time_validation(conn: Connection, workflow_id: int) -> tuple[list[float], list[tuple[str, str]]]:
    timings = []
    findings: list[tuple[str, str]] = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        report = database.validate_workflow(conn, workflow_id)
        timings.append((time.perf_counter() - started) * 1000)
        findings = [(finding.severity, finding.check_name) for finding in report.findings]
    return timings, findings


EDIT = text(
    "UPDATE instructions SET prompt_template = prompt_template WHERE conversation_id = "
    "(SELECT conversation_id FROM conversations WHERE canonical_name = :name)"
)


def time_edit(conn: Connection, conversation: str) -> float:
    """Median ms of a one-row edit of the conversation's instruction, its strict check included
    (constraints IMMEDIATE: the deferred check runs at the end of each statement, as at a commit)."""
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        conn.execute(EDIT, {"name": conversation})
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def run(engine: Engine) -> list[Result]:
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            steps, branches = build(conn)
            large, large_findings = time_validation(conn, WORKFLOW_ID)
            reference, _ = time_validation(conn, 3001)
            conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
            plain_edit = time_edit(conn, "bench_step_5")  # the generated workflow is not strict
            strict_3001_edit = time_edit(conn, "grade_summary")  # 3001 is
            conn.execute(
                text("UPDATE workflows SET strict = true WHERE workflow_id = :id"), {"id": WORKFLOW_ID}
            )
            strict_large_edit = time_edit(conn, "bench_step_5")
        finally:
            transaction.rollback()
    verdict = ", ".join(sorted({f"{severity}:{check}" for severity, check in large_findings}))
    return [
        Result(f"validation.validate_workflow_ms.{STEPS}_steps", round(statistics.median(large), 1), "ms", False,
               f"{steps} steps, {branches} branches, median of {REPEATS} (min {min(large):.1f} ms); {verdict}"),
        Result("validation.validate_workflow_ms.3001", round(statistics.median(reference), 1), "ms", False,
               f"reference workflow, median of {REPEATS}"),
        Result("validation.edit_ms.not_strict", round(plain_edit, 2), "ms", False,
               "a one-row instruction edit of a workflow that is not strict (the baseline)"),
        Result("validation.edit_ms.strict_3001", round(strict_3001_edit, 2), "ms", False,
               f"the same edit of strict 3001: {strict_3001_edit / plain_edit:.1f}x the baseline"),
        Result(f"validation.edit_ms.strict_{STEPS}_steps", round(strict_large_edit, 2), "ms", False,
               f"the same edit, the {STEPS}-step workflow strict: {strict_large_edit / plain_edit:.1f}x the baseline"),
    ]  # fmt: skip
