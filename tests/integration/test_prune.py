"""prune_finished_runs(): the logs of runs finished long ago go; latest outputs, runs and young runs stay."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

from turing_db import database
from turing_db.runner import WaveBatchProcessor

W = 7901


def count(engine: Engine, query: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(query), params).scalar_one())


def test_old_runs_lose_their_logs_but_keep_their_rows_and_latest_outputs(
    clean_data: Engine, workflows: CommittedWorkflows
) -> None:
    engine = clean_data
    workflows.build(W, [Step("p_echo", entry=True)], [("p_echo", "*", None)])
    first, second = add_postings(engine, 2)
    old = WaveBatchProcessor(W, engine=engine).run().workflow_run_id
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE workflow_runs SET started_at = started_at - interval '40 days', "
                "finished_at = finished_at - interval '40 days' WHERE workflow_run_id = :run"
            ),
            {"run": old},
        )
        young = conn.execute(
            text(
                "INSERT INTO workflow_runs (workflow_id, status, finished_at) "
                "VALUES (:w, 'completed', now()) RETURNING workflow_run_id"
            ),
            {"w": W},
        ).scalar_one()
        # a later run answered the first posting again: its old output is replaced, the second's is not
        conn.execute(text("INSERT INTO conversation_outputs (workflow_run_id, posting_id, conversation_id, output) "
                          "SELECT :young, posting_id, conversation_id, 'newer' FROM conversation_outputs "
                          "WHERE workflow_run_id = :old AND posting_id = :posting"),
                     {"young": young, "old": old, "posting": first})  # fmt: skip
    assert (
        count(engine, "SELECT count(*) FROM posting_state_checkpoints WHERE workflow_run_id = :r", r=old) > 0
    )

    assert database.prune_finished_runs(engine, 30 * 86400) == {
        "runs": 1, "checkpoints": 4, "outputs": 1, "calls": 2, "work_rows": 2, "alerts": 0
    }  # fmt: skip
    assert (
        count(engine, "SELECT count(*) FROM posting_state_checkpoints WHERE workflow_run_id = :r", r=old) == 0
    )
    assert count(engine, "SELECT count(*) FROM workflow_runs WHERE workflow_run_id = :r", r=old) == 1
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT posting_id, output FROM conversation_outputs")).all()
    outputs = {posting: output for posting, output in rows}
    assert outputs == {first: "newer", second: outputs[second]} and outputs[second] != "newer"
    assert database.prune_finished_runs(engine, 30 * 86400)["checkpoints"] == 0  # nothing left to prune
