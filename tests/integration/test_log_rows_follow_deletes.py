"""The work queue and the per-step logs have no foreign keys to runs and postings (checking them per row
was a third of each completion); deleting runs and postings still does what the keys did."""

from sqlalchemy import text
from sqlalchemy.engine import Connection

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
