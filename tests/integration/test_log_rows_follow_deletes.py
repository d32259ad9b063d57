"""The per-step logs have no foreign keys to runs and postings; deleting those still does what the keys did."""

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
"""


def counts(conn: Connection) -> tuple[int, int, int]:
    return tuple(conn.execute(text(
        "SELECT (SELECT count(*) FROM conversation_outputs), (SELECT count(*) FROM actor_calls),"
        " (SELECT count(*) FROM actor_calls WHERE workflow_run_id IS NULL AND posting_id IS NULL)"
    )).one())  # fmt: skip


def test_deleting_a_run_deletes_its_outputs_and_unlinks_its_calls(conn: Connection) -> None:
    conn.execute(text(SETUP))
    before = counts(conn)
    conn.execute(
        text(
            "DELETE FROM workflow_runs WHERE workflow_run_id = (SELECT max(workflow_run_id) FROM workflow_runs)"
        )
    )
    conn.execute(text("DELETE FROM postings WHERE external_id = 'log-test'"))
    assert counts(conn) == (before[0] - 1, before[1], before[2] + 1)
