"""The queries of the original system's operations checklist run verbatim, and report real data."""

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

VERBATIM = [
    """SELECT wc.execution_order, c.canonical_name, wc.is_entry_point
  FROM workflow_conversations wc JOIN conversations c ON wc.conversation_id = c.conversation_id
 WHERE wc.workflow_id = 3001 ORDER BY wc.execution_order;""",
    "SELECT COUNT(*) FROM posting_state_checkpoints WHERE created_at > NOW() - INTERVAL '1 hour';",
    "SELECT * FROM error_summary WHERE error_hour > NOW() - INTERVAL '1 hour';",
    "SELECT * FROM actor_performance_summary ORDER BY total_calls DESC LIMIT 5;",
    "SELECT refresh_performance_views();",
    "SELECT * FROM cron.job;",
    """SELECT COUNT(*) FROM posting_state_checkpoints
 WHERE workflow_run_id = (SELECT MAX(workflow_run_id) FROM workflow_runs WHERE workflow_id = 3001);""",
]


@pytest.mark.parametrize("query", VERBATIM)
def test_operator_query_runs_verbatim(clean_data: Engine, query: str) -> None:
    with clean_data.begin() as conn:
        conn.exec_driver_sql(query.replace("%", "%%")).all()


def test_reference_workflow_lists_its_steps_and_entry_points(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(VERBATIM[0]).all()
    assert [(order, name, entry) for order, name, entry in rows] == [
        (10, "extract_summary", True), (20, "grade_summary", False), (30, "save_summary", False),
        (40, "extract_skills", True), (50, "save_skills", False), (60, "score_posting", True),
        (70, "save_score", False),
    ]  # fmt: skip


def test_performance_views_count_calls_and_errors(clean_data: Engine) -> None:
    with clean_data.begin() as conn:
        conn.execute(text("""
            INSERT INTO workflow_runs (workflow_id) VALUES (3001);
            INSERT INTO actor_calls (workflow_run_id, conversation_id, actor_id, status, error_kind, latency_ms,
                                     prompt_tokens, completion_tokens)
            SELECT (SELECT max(workflow_run_id) FROM workflow_runs), c.conversation_id, c.actor_id, v.status, v.error_kind, v.latency, 10, 5
              FROM conversations c,
                   (VALUES ('success', NULL, 100), ('success', NULL, 300), ('error', 'timeout', 900))
                     AS v (status, error_kind, latency)
             WHERE c.canonical_name = 'extract_summary';
        """))  # fmt: skip
        conn.execute(text("SELECT refresh_performance_views()"))
        top = conn.execute(
            text("SELECT * FROM actor_performance_summary ORDER BY total_calls DESC LIMIT 1")
        ).one()
        errors = conn.execute(text(
            "SELECT * FROM error_summary WHERE error_hour > NOW() - INTERVAL '1 hour'"
        )).all()  # fmt: skip
    assert (top.actor_name, top.total_calls, top.successful_calls, top.failed_calls) == (
        "offline_summarizer",
        3,
        2,
        1,
    )
    assert top.p50_latency_ms == 300 and top.total_prompt_tokens == 30
    assert [(e.actor_name, e.conversation, e.error_kind, e.error_count) for e in errors] == [
        ("offline_summarizer", "extract_summary", "timeout", 1)
    ]
