"""Stage routing at run start, and prompts rendered once, literally."""

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from workflows import CommittedWorkflows, add_postings

from turing_db import database


def test_postings_enter_at_the_entry_of_their_first_missing_stage(
    engine: Engine, workflows: CommittedWorkflows
) -> None:
    fresh = add_postings(engine, 2)
    summarised = add_postings(engine, 2, summary="done")
    skilled = add_postings(engine, 1, summary="done", skills='["cooking"]')
    finished = add_postings(engine, 1, summary="done", skills="[]", score=50)
    run = database.start_run(engine, 3001, "w")
    assert (run.postings_routed, run.postings_in_run) == (5, 5)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT w.posting_id, c.canonical_name FROM posting_work w JOIN conversations c USING (conversation_id) "
                 "WHERE w.workflow_run_id = :r"), {"r": run.workflow_run_id}
        ).all()  # fmt: skip
    entry = dict(rows)
    assert {entry[p] for p in fresh} == {"extract_summary"}
    assert {entry[p] for p in summarised} == {"extract_skills"}
    assert {entry[p] for p in skilled} == {"score_posting"}
    assert finished[0] not in entry


def test_values_with_braces_quotes_and_sql_are_inserted_literally(conn: Connection) -> None:
    title = "Chef {job_description} 'O''Brien'); DROP TABLE postings; -- {{x}} %s :name"
    posting = conn.execute(
        text(
            "INSERT INTO postings (job_title, job_description, company) VALUES (:t, :d, NULL) RETURNING posting_id"
        ),
        {"t": title, "d": "Cooks {output:extract_summary} food"},
    ).scalar_one()
    template = "T={job_title} D={job_description} C={company} L={{literal}} N={posting_id}"
    prompt = conn.execute(
        text("SELECT prompt FROM render_prompts(:t, ARRAY[CAST(:p AS bigint)])"),
        {"t": template, "p": posting},
    ).scalar_one()
    assert prompt == f"T={title} D=Cooks {{output:extract_summary}} food C= L={{literal}} N={posting}"


def test_output_placeholders_take_the_latest_successful_output(conn: Connection) -> None:
    posting = conn.execute(
        text(
            "INSERT INTO postings (job_title, job_description) VALUES ('Cook', 'Cooks') RETURNING posting_id"
        )
    ).scalar_one()
    conn.execute(text("""
        INSERT INTO workflow_runs (workflow_id) VALUES (3001);
        INSERT INTO conversation_outputs (workflow_run_id, posting_id, conversation_id, output, is_error)
        SELECT (SELECT max(workflow_run_id) FROM workflow_runs), :p, conversation_id, v.output, v.is_error
          FROM conversations, (VALUES ('first draft', false), ('second draft', false), ('[TIMEOUT]', true))
                                AS v (output, is_error)
         WHERE canonical_name = 'extract_summary';
    """), {"p": posting})  # fmt: skip
    prompt = conn.execute(
        text(
            "SELECT prompt FROM render_prompts('S: {output:extract_summary} / {output:grade_summary}', ARRAY[CAST(:p AS bigint)])"
        ),
        {"p": posting},
    ).scalar_one()
    assert prompt == "S: second draft / "
