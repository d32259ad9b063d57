"""One output the database cannot store fails its posting alone; the rest of the chunk is stored."""

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

from turing_db.runner import WaveBatchProcessor

W = 7401


def test_nul_surrogate_and_oversized_outputs_fail_only_their_posting(
    engine: Engine, workflows: CommittedWorkflows
) -> None:
    workflows.build(W, [Step("t_emit", entry=True)], [("t_emit", "*", None), ("t_emit", "[FAILED]", None)])
    workflows.set_actor("test_python", "python", {"callable": "sample_actors:unstorable_by_id"})
    ids = add_postings(engine, 10)
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=10).run()
    assert (summary.status, summary.completed, summary.failed) == ("completed", 10, 0)
    with engine.connect() as conn:
        calls = dict(
            conn.execute(text("SELECT posting_id, coalesce(error_kind, status) FROM actor_calls")).all()
        )
        outputs = dict(conn.execute(text("SELECT posting_id, output FROM conversation_outputs")).all())
    expected = {
        0: "unstorable_output",
        1: "unstorable_output",
        2: "output_too_large",
        3: "success",
        4: "success",
    }
    assert calls == {posting: expected[posting % 5] for posting in ids}
    assert {outputs[p] for p in ids if p % 5 == 4} == {"fine"}
    assert {outputs[p] for p in ids if p % 5 == 3} == {""}  # an empty output is a success, stored as ''
    assert {outputs[p] for p in ids if p % 5 in (0, 1, 2)} == {"[FAILED]"}


def test_a_secret_in_an_actors_error_never_reaches_a_table(
    engine: Engine, workflows: CommittedWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "canary-8d1f0c9e-secret"
    monkeypatch.setenv("TURING_DB_PASSWORD", canary)
    workflows.build(W + 1, [Step("t_leak", entry=True)], [("t_leak", "*", None), ("t_leak", "[ERROR]", None)])
    workflows.set_actor("test_python", "python", {"callable": "sample_actors:leak_secret"})
    add_postings(engine, 2)
    WaveBatchProcessor(W + 1, engine=engine).run()
    with engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM posting_state_checkpoints WHERE note LIKE :c) "
                "+ (SELECT count(*) FROM conversation_outputs WHERE output LIKE :c) "
                "+ (SELECT count(*) FROM actor_calls WHERE error_kind LIKE :c)"
            ),
            {"c": f"%{canary}%"},
        ).scalar_one()
        notes = (
            conn.execute(text("SELECT note FROM posting_state_checkpoints WHERE note LIKE '%password%'"))
            .scalars()
            .all()
        )
    assert found == 0
    assert notes and all("***" in note for note in notes)
