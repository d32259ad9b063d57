"""The reference workflow 3001 as provisioned: entry points by stage, the error handler, the retry loop."""

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection


def test_each_stage_has_one_entry_point(conn: Connection) -> None:
    rows = conn.execute(text("""
        SELECT wc.entry_stage, c.canonical_name FROM workflow_conversations wc
          JOIN conversations c USING (conversation_id)
         WHERE wc.workflow_id = 3001 AND wc.is_entry_point ORDER BY wc.execution_order
    """)).all()  # fmt: skip
    assert [tuple(row) for row in rows] == [
        ("summary", "extract_summary"),
        ("skills", "extract_skills"),
        ("score", "score_posting"),
    ]


def test_global_error_handler_exists_and_ends_the_path(conn: Connection) -> None:
    handler = conn.execute(text("""
        SELECT c.enabled, a.actor_type, s.branch_condition, s.next_conversation_id
          FROM conversations c JOIN actors a USING (actor_id)
          JOIN instructions i USING (conversation_id) JOIN instruction_steps s USING (instruction_id)
         WHERE c.conversation_type = 'error_handler'
    """)).all()  # fmt: skip
    assert [tuple(row) for row in handler] == [(True, "python", "*", None)]


def test_grading_loop_is_bounded(conn: Connection) -> None:
    loop = conn.execute(text("""
        SELECT c.canonical_name, wc.max_visits FROM workflow_conversations wc JOIN conversations c USING (conversation_id)
         WHERE wc.workflow_id = 3001 AND c.canonical_name IN ('extract_summary', 'grade_summary') ORDER BY 1
    """)).all()  # fmt: skip
    assert [tuple(row) for row in loop] == [("extract_summary", 3), ("grade_summary", 3)]
    exits = conn.execute(text("""
        SELECT s.branch_condition, target.canonical_name FROM instruction_steps s
          JOIN instructions i USING (instruction_id) JOIN conversations c USING (conversation_id)
          LEFT JOIN conversations target ON target.conversation_id = s.next_conversation_id
         WHERE c.canonical_name = 'grade_summary' ORDER BY s.branch_priority
    """)).all()  # fmt: skip
    assert ("[LOOP_LIMIT]", "extract_skills") in [tuple(row) for row in exits]


def test_posting_enters_at_its_first_missing_stage(conn: Connection) -> None:
    conn.execute(text("""
        INSERT INTO postings (job_title, job_description, summary, skills, score, external_id) VALUES
          ('Cook', 'Cooks food.', NULL, NULL, NULL, 'p-new'),
          ('Baker', 'Bakes bread.', 'Bakes.', NULL, NULL, 'p-summarised'),
          ('Nurse', 'Cares for patients.', 'Cares.', '["patient care"]', NULL, 'p-skilled'),
          ('Driver', 'Drives trucks.', 'Drives.', '["drive trucks"]', 80, 'p-done'),
          ('Welder', 'Welds steel.', NULL, NULL, NULL, 'p-disabled')
    """))  # fmt: skip
    conn.execute(text("UPDATE postings SET enabled = false WHERE external_id = 'p-disabled'"))
    routes = conn.execute(text("""
        SELECT p.external_id, r.entry_stage, c.canonical_name
          FROM posting_entry_points(3001) r JOIN postings p USING (posting_id)
          LEFT JOIN conversations c ON c.conversation_id = r.entry_conversation_id
         WHERE p.external_id LIKE 'p-%' ORDER BY p.external_id
    """)).all()  # fmt: skip
    assert [tuple(row) for row in routes] == [
        ("p-new", "summary", "extract_summary"),
        ("p-skilled", "score", "score_posting"),
        ("p-summarised", "skills", "extract_skills"),
    ]


def test_posting_without_an_entry_for_its_stage_is_not_routed(conn: Connection) -> None:
    conn.execute(text("INSERT INTO workflows (workflow_id, workflow_name) VALUES (4002, 'no entries')"))
    conn.execute(
        text("INSERT INTO postings (job_title, job_description, external_id) VALUES ('Cook', 'Cooks.', 'q')")
    )
    route = conn.execute(text("""
        SELECT r.entry_stage, r.entry_conversation_id FROM posting_entry_points(4002) r
          JOIN postings p USING (posting_id) WHERE p.external_id = 'q'
    """)).one()  # fmt: skip
    assert tuple(route) == ("summary", None)


def test_the_readmes_fallback_example_is_a_valid_fallback_of_3001(conn: Connection) -> None:
    """README's "A fallback model" SQL, as printed, adds a [CIRCUIT_OPEN] fallback to 3001 that
    validate_workflow() accepts (no finding: it saves the stage extract_summary saves)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### A fallback model", 1)[1]
    sql = section.split("```sql\n", 1)[1].split("```", 1)[0]
    body = sql.replace("BEGIN;\n", "").replace("COMMIT;\n", "")  # inside the test's transaction
    conn.execute(text(body))
    conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the strict check 3001's commit would run
    assert (
        conn.execute(text("SELECT severity FROM validate_workflow(3001) WHERE severity <> 'ok'")).all() == []
    )
    [(condition, target)] = conn.execute(text(
        "SELECT branch_condition, t.canonical_name FROM instruction_steps s JOIN instructions i USING (instruction_id) "
        "JOIN conversations c USING (conversation_id) JOIN conversations t ON t.conversation_id = s.next_conversation_id "
        "WHERE c.canonical_name = 'extract_summary' AND branch_condition = '[CIRCUIT_OPEN]'")).all()  # fmt: skip
    assert (condition, target) == ("[CIRCUIT_OPEN]", "extract_summary_fallback")
