"""The schema refuses rows that cannot be right, whatever wrote them."""

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

BAD_INSERTS = {
    "unknown actor type": "INSERT INTO actors (actor_name, actor_type) VALUES ('x', 'carrier_pigeon')",
    "actor config not an object": "INSERT INTO actors (actor_name, actor_type, config) VALUES ('x', 'shell', '[]')",
    "duplicate actor name": "INSERT INTO actors (actor_name, actor_type) VALUES ('offline_grader', 'python')",
    "duplicate canonical name": (
        "INSERT INTO conversations (conversation_name, canonical_name) VALUES ('Again', 'extract_summary')"
    ),
    "malformed canonical name": "INSERT INTO conversations (conversation_name, canonical_name) VALUES ('x', 'Has Space')",
    "conversation with missing actor": (
        "INSERT INTO conversations (conversation_name, canonical_name, actor_id) VALUES ('x', 'x', 999999)"
    ),
    "second error handler": (
        "INSERT INTO conversations (conversation_name, canonical_name, conversation_type) "
        "VALUES ('x', 'other_handler', 'error_handler')"
    ),
    "duplicate execution order": (
        "INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order) "
        "SELECT 3001, conversation_id, 10 FROM conversations WHERE canonical_name = 'error_handler'"
    ),
    "entry stage without entry flag": (
        "INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order, entry_stage) "
        "SELECT 3001, conversation_id, 99, 'summary' FROM conversations WHERE canonical_name = 'error_handler'"
    ),
    "second entry point for a stage": (
        "INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order, is_entry_point, "
        "entry_stage) SELECT 3001, conversation_id, 99, true, 'summary' FROM conversations "
        "WHERE canonical_name = 'error_handler'"
    ),
    "workflow conversation of a missing workflow": (
        "INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order) VALUES (424242, 1, 1)"
    ),
    "branch to a missing conversation": (
        "INSERT INTO instruction_steps (instruction_id, branch_condition, next_conversation_id) "
        "SELECT min(instruction_id), '*', 999999 FROM instructions"
    ),
    "empty branch condition": (
        "INSERT INTO instruction_steps (instruction_id, branch_condition) SELECT min(instruction_id), '' FROM instructions"
    ),
    "posting without title": "INSERT INTO postings (job_title, job_description) VALUES ('  ', 'text')",
    "posting without description": "INSERT INTO postings (job_title, job_description) VALUES ('Cook', '')",
    "score out of range": "INSERT INTO postings (job_title, job_description, score) VALUES ('Cook', 'Cooks.', 101)",
    "skills not a list": "INSERT INTO postings (job_title, job_description, skills) VALUES ('Cook', 'C.', '{}')",
    "unknown run status": "INSERT INTO workflow_runs (workflow_id, status) VALUES (3001, 'sleeping')",
    "finished run still running": "INSERT INTO workflow_runs (workflow_id, finished_at) VALUES (3001, now())",
    "error call without kind": (
        "INSERT INTO actor_calls (actor_id, status, latency_ms) SELECT min(actor_id), 'error', 1 FROM actors"
    ),
    "negative latency": (
        "INSERT INTO actor_calls (actor_id, status, latency_ms) SELECT min(actor_id), 'success', -1 FROM actors"
    ),
}


@pytest.mark.parametrize("statement", BAD_INSERTS.values(), ids=BAD_INSERTS.keys())
def test_bad_insert_is_refused(conn: Connection, statement: str) -> None:
    with pytest.raises(IntegrityError):
        with conn.begin_nested():
            conn.execute(text(statement))


def test_same_posting_text_twice_is_refused_whatever_the_case_and_spacing(conn: Connection) -> None:
    conn.execute(
        text("INSERT INTO postings (job_title, job_description) VALUES ('Line Cook', 'Prepare  food.')")
    )
    with pytest.raises(IntegrityError, match="postings_dedup_key_key"):
        with conn.begin_nested():
            conn.execute(text(
                "INSERT INTO postings (job_title, job_description) VALUES (' line cook ', E'prepare\\n food.')"
            ))  # fmt: skip


def test_only_one_running_run_per_workflow(conn: Connection) -> None:
    conn.execute(text("INSERT INTO workflow_runs (workflow_id) VALUES (3001)"))
    with pytest.raises(IntegrityError, match="workflow_runs_one_running"):
        with conn.begin_nested():
            conn.execute(text("INSERT INTO workflow_runs (workflow_id) VALUES (3001)"))


def test_contract_columns_are_enough_to_insert(conn: Connection) -> None:
    """A user's INSERT that names only the documented columns works (everything else has defaults)."""
    conn.execute(text("""
        INSERT INTO actors (actor_name, actor_type, config, enabled)
             VALUES ('my_llm', 'ollama', '{"model": "gemma3:4b", "url": "http://127.0.0.1:11434"}', true);
        INSERT INTO conversations (conversation_name, canonical_name, actor_id, conversation_type, enabled)
             SELECT 'Mine', 'my_step', actor_id, 'single_actor', true FROM actors WHERE actor_name = 'my_llm';
        INSERT INTO workflows (workflow_id, workflow_name, enabled) VALUES (4001, 'mine', true);
        INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order, enabled, is_entry_point)
             SELECT 4001, conversation_id, 1, true, true FROM conversations WHERE canonical_name = 'my_step';
        INSERT INTO instructions (conversation_id, prompt_template, enabled)
             SELECT conversation_id, 'Summarise {job_title}', true FROM conversations WHERE canonical_name = 'my_step';
        INSERT INTO instruction_steps (instruction_id, branch_condition, next_conversation_id, branch_priority, enabled)
             SELECT instruction_id, '*', NULL, 1, true FROM instructions
               JOIN conversations USING (conversation_id) WHERE canonical_name = 'my_step';
        INSERT INTO postings (job_title, job_description, enabled) VALUES ('Cook', 'Cooks food.', true);
    """))  # fmt: skip
    assert (
        conn.execute(text("SELECT count(*) FROM workflow_conversations WHERE workflow_id = 4001")).scalar()
        == 1
    )
