"""The work queue and the per-step logs carry no foreign keys to runs, postings, actors and (the work
queue) conversations: checking them per written row was a third of each completion. Deleting still
does what the keys did, once per statement: cascades (delete_log_rows) and refusals
(guard_work_references)."""

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

SETUP = """
INSERT INTO postings (job_title, job_description, external_id) VALUES ('Cook', 'Cooks.', 'log-test');
INSERT INTO workflow_runs (workflow_id) VALUES (3001);
INSERT INTO conversation_outputs (workflow_run_id, posting_id, conversation_id, output)
SELECT max(r.workflow_run_id), max(p.posting_id), 1, 'out' FROM workflow_runs r, postings p WHERE p.external_id = 'log-test';
INSERT INTO actor_calls (workflow_run_id, posting_id, conversation_id, actor_id, status, latency_ms)
SELECT max(r.workflow_run_id), max(p.posting_id), 1, min(a.actor_id), 'success', 1
  FROM workflow_runs r, postings p, actors a WHERE p.external_id = 'log-test';
INSERT INTO posting_state_checkpoints (workflow_run_id, posting_id, conversation_id, state)
SELECT max(r.workflow_run_id), max(p.posting_id), 1, 'completed' FROM workflow_runs r, postings p WHERE p.external_id = 'log-test';
INSERT INTO posting_work (workflow_run_id, posting_id, status)
SELECT r.workflow_run_id, max(p.posting_id), 'done'
  FROM workflow_runs r, postings p WHERE p.external_id = 'log-test' GROUP BY r.workflow_run_id;
"""


def counts(conn: Connection) -> tuple[int, ...]:
    """outputs, calls, unlinked calls, checkpoints, work rows of the test posting"""
    return tuple(conn.execute(text(
        "SELECT (SELECT count(*) FROM conversation_outputs), (SELECT count(*) FROM actor_calls),"
        " (SELECT count(*) FROM actor_calls WHERE workflow_run_id IS NULL AND posting_id IS NULL),"
        " (SELECT count(*) FROM posting_state_checkpoints),"
        " (SELECT count(*) FROM posting_work w JOIN postings p USING (posting_id) WHERE p.external_id = 'log-test')"
    )).one())  # fmt: skip


def test_deleting_a_run_deletes_its_outputs_and_unlinks_its_calls(conn: Connection) -> None:
    conn.execute(text(SETUP))
    before = counts(conn)
    conn.execute(
        text(
            "DELETE FROM workflow_runs WHERE workflow_run_id = (SELECT max(workflow_run_id) FROM workflow_runs)"
        )
    )
    after_run = counts(conn)
    conn.execute(text("DELETE FROM postings WHERE external_id = 'log-test'"))
    assert after_run[:4] == (before[0] - 1, before[1], before[2], before[3] - 1)
    assert after_run[4] == before[4] - 1  # the run's work rows went with it (that key stays)
    assert counts(conn)[:4] == (before[0] - 1, before[1], before[2] + 1, before[3] - 1)


def test_deleting_postings_deletes_their_work_rows_outputs_and_checkpoints(conn: Connection) -> None:
    conn.execute(text(SETUP))
    before = counts(conn)
    assert before[4] >= 1
    conn.execute(text("DELETE FROM postings WHERE external_id = 'log-test'"))
    after = counts(conn)
    assert after[0] == before[0] - 1 and after[3] == before[3] - 1
    assert after[1] == before[1]  # the call stays, unlinked from the posting
    assert conn.execute(text(
        "SELECT count(*) FROM actor_calls WHERE posting_id IS NULL AND workflow_run_id = (SELECT max(workflow_run_id) FROM workflow_runs)"
    )).scalar_one() == 1  # fmt: skip
    assert conn.execute(text(
        "SELECT count(*) FROM posting_work w WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.posting_id = w.posting_id)"
    )).scalar_one() == 0  # fmt: skip


def refused(conn: Connection, statement: str, params: dict[str, int]) -> str:
    """The error a statement raises (in a savepoint, so the test's transaction goes on)."""
    savepoint = conn.begin_nested()
    with pytest.raises(IntegrityError) as error:
        conn.execute(text(statement), params)
    savepoint.rollback()
    return str(error.value.orig)


def test_an_actor_with_logged_calls_cannot_be_deleted_or_renumbered(conn: Connection) -> None:
    actor = {"a": conn.execute(text(
        "INSERT INTO actors (actor_name, actor_type) VALUES ('test_guarded', 'python') RETURNING actor_id"
    )).scalar_one()}  # fmt: skip
    conn.execute(
        text("INSERT INTO actor_calls (actor_id, status, latency_ms) VALUES (:a, 'success', 1)"), actor
    )
    assert f"actor {actor['a']} has logged calls" in refused(
        conn, "DELETE FROM actors WHERE actor_id = :a", actor
    )
    assert "has logged calls" in refused(
        conn, "UPDATE actors SET actor_id = -actor_id WHERE actor_id = :a", actor
    )
    conn.execute(text("UPDATE actors SET enabled = false WHERE actor_id = :a"), actor)  # other columns: fine
    conn.execute(text("DELETE FROM actor_calls WHERE actor_id = :a"), actor)
    conn.execute(text("DELETE FROM actors WHERE actor_id = :a"), actor)  # without calls: allowed


def test_a_conversation_where_postings_wait_cannot_be_deleted(conn: Connection) -> None:
    conn.execute(text(SETUP))
    waiting = {"c": conn.execute(
        text("SELECT conversation_id FROM conversations WHERE canonical_name = 'extract_summary'")
    ).scalar_one()}  # fmt: skip
    conn.execute(
        text("UPDATE posting_work w SET status = 'waiting', conversation_id = :c FROM postings p "
             "WHERE p.posting_id = w.posting_id AND p.external_id = 'log-test'"),
        waiting,
    )  # fmt: skip
    conn.execute(text("DELETE FROM workflow_conversations WHERE conversation_id = :c"), waiting)
    conn.execute(text("DELETE FROM instruction_steps WHERE next_conversation_id = :c"), waiting)
    message = refused(conn, "DELETE FROM conversations WHERE conversation_id = :c", waiting)
    assert f"conversation {waiting['c']} has postings of a run waiting at it" in message
    conn.execute(text("DELETE FROM workflow_runs"))  # the run's work rows go with it
    conn.execute(text("DELETE FROM conversations WHERE conversation_id = :c"), waiting)
