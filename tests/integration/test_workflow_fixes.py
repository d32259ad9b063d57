"""fix_workflow(): each safe fix on a workflow that needs it, all or none, and a run that behaves as
before on the paths that were valid; `turing validate --fix`."""

import re

import pytest
from commands import turing
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from workflows import CommittedWorkflows, Step, build_workflow, findings

from turing_db.provisioning.procedures import PROCEDURES_DIR
from turing_db.runner import WaveBatchProcessor

W = 5301


def fix(conn: Connection, workflow_id: int, apply: bool = True) -> list[tuple[str, str, str]]:
    """(fix, conversation, outcome) of every fix fix_workflow() made or would make."""
    rows = conn.execute(text("SELECT fix, conversation, outcome FROM fix_workflow(:id, :apply)"),
                        {"id": workflow_id, "apply": apply})  # fmt: skip
    return [tuple(row) for row in rows]  # type: ignore[misc]


def scalar(conn: Connection, query: str) -> object:
    return conn.execute(text(query), {"id": W}).scalar()


LOOP = [Step("draft", entry=True), Step("judge", template="{output:draft}")]
LOOP_BRANCHES = [("draft", "*", "judge"), ("judge", "PASS", None, 10), ("judge", "*", "draft", 20)]


def test_an_unbounded_loop_gets_the_limit_the_engine_applies_already(conn: Connection) -> None:
    build_workflow(conn, W, LOOP, LOOP_BRANCHES)
    assert findings(conn, W) == [("warning", "unbounded_loop", "draft")]
    assert fix(conn, W) == [("visit_limit", "draft", "applied")]
    assert findings(conn, W) == []
    written = scalar(conn, "SELECT max_visits FROM workflow_conversations JOIN conversations USING (conversation_id) "
                           "WHERE workflow_id = :id AND canonical_name = 'draft'")  # fmt: skip
    engine_limit = re.findall(r"coalesce\(target_step\.max_visits, (\d+)\)",
                              (PROCEDURES_DIR / "0730_function_complete_chunk.sql").read_text())  # fmt: skip
    assert engine_limit == [str(written)]  # the same limit, so no path changes


def test_the_only_step_nothing_leads_to_becomes_the_entry_point(conn: Connection) -> None:
    build_workflow(
        conn, W, [Step("first"), Step("second")], [("first", "*", "second"), ("second", "*", None)]
    )
    assert findings(conn, W) == [("error", "entry_point_missing", None)]
    assert fix(conn, W) == [("entry_point", "first", "applied")]
    assert findings(conn, W) == []


def test_no_entry_point_is_guessed_when_two_steps_could_be_it(conn: Connection) -> None:
    build_workflow(conn, W, [Step("one"), Step("two")], [("one", "*", None), ("two", "*", None)])
    assert fix(conn, W) == []
    assert ("error", "entry_point_missing", None) in findings(conn, W)


def test_a_repeated_condition_is_disabled(conn: Connection) -> None:
    build_workflow(conn, W, [Step("only", entry=True), Step("other")],
                   [("only", "PASS", "other", 10), ("only", "PASS", None, 20), ("only", "*", None, 30),
                    ("other", "*", None)])  # fmt: skip
    assert ("error", "duplicate_condition", "only") in findings(conn, W)
    assert fix(conn, W) == [("duplicate_branch", "only", "applied")]
    assert findings(conn, W) == []


def test_a_fix_that_would_not_make_the_workflow_valid_is_rolled_back(conn: Connection) -> None:
    build_workflow(conn, W, LOOP, LOOP_BRANCHES)
    conn.execute(
        text("UPDATE conversations SET actor_id = NULL WHERE canonical_name = 'judge'")
    )  # no fix for it
    [(name, conversation, outcome)] = fix(conn, W)
    assert (name, conversation) == ("visit_limit", "draft")
    assert outcome == "rolled back: the fixes would leave 1 error(s) and 0 warning(s) (before: 1 and 1)"
    assert scalar(conn, "SELECT count(max_visits) FROM workflow_conversations WHERE workflow_id = :id") == 0


def test_without_apply_nothing_changes(conn: Connection) -> None:
    build_workflow(conn, W, LOOP, LOOP_BRANCHES)
    assert fix(conn, W, apply=False) == [("visit_limit", "draft", "would apply")]
    assert findings(conn, W) == [("warning", "unbounded_loop", "draft")]


def final_paths(engine: Engine) -> dict[str, tuple[list[str], int, object]]:
    """Each posting's conversations in the order they ran, and how it ended (failed runs, reason)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT p.job_title, array_agg(c.canonical_name ORDER BY o.output_id), p.failed_runs, p.failed_conversation "
            "FROM postings p JOIN conversation_outputs o USING (posting_id) "
            "JOIN conversations c ON c.conversation_id = o.conversation_id GROUP BY p.posting_id")).all()  # fmt: skip
    return {title: (path, failed_runs, failed_at) for title, path, failed_runs, failed_at in rows}


@pytest.mark.slow
def test_a_fallback_branch_sends_unmatched_outputs_where_they_went_before(
    clean_data: Engine, workflows: CommittedWorkflows
) -> None:
    workflows.build(W, [Step("judge", template="{job_title}", entry=True), Step("keep")],
                    [("judge", "PASS", "keep"), ("keep", "*", None)])  # fmt: skip
    with clean_data.connect() as conn:
        assert ("warning", "no_fallback_branch", "judge") in findings(conn, W)

    def run_titles() -> dict[str, tuple[list[str], int, object]]:
        with clean_data.begin() as conn:
            conn.execute(
                text("TRUNCATE postings, workflow_runs, conversation_outputs RESTART IDENTITY CASCADE")
            )
            conn.execute(text("INSERT INTO postings (job_title, job_description) VALUES "
                              "('PASS', 'one'), ('FAIL', 'two')"))  # fmt: skip
        WaveBatchProcessor(W, engine=clean_data).run()
        return final_paths(clean_data)

    before = run_titles()
    with clean_data.begin() as conn:
        assert fix(conn, W) == [("fallback_branch", "judge", "applied")]
        assert findings(conn, W) == []
    assert run_titles() == before
    assert before["FAIL"][0] == ["judge", "error_handler"]  # it went to the handler both times


@pytest.mark.slow
def test_validate_prints_the_fixes_sql_and_fix_makes_them(
    clean_data: Engine, workflows: CommittedWorkflows, turing_env: dict[str, str]
) -> None:
    workflows.build(W, LOOP, LOOP_BRANCHES)
    listed = turing(turing_env, "validate", "--workflow", str(W))
    assert listed.returncode == 0, listed.stdout  # a warning only
    assert "1 safe fix(es); `turing validate --workflow 5301 --fix` makes them" in listed.stdout
    assert (
        "UPDATE public.workflow_conversations SET max_visits = 25 WHERE workflow_id = 5301" in listed.stdout
    )
    fixed = turing(turing_env, "validate", "--workflow", str(W), "--fix-common-issues")
    assert fixed.returncode == 0 and "1 safe fix(es): applied" in fixed.stdout, fixed.stdout
    again = turing(turing_env, "validate", "--workflow", str(W))
    assert "safe fix" not in again.stdout and "0 warning(s)" in again.stdout
