"""Completion written behind the workers: waves keep their order, and a failed completion hands every
claim in hand back instead of leaving it to expire."""

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

from turing_db import engine as sql
from turing_db.runner import WaveBatchProcessor

W = 7301


@pytest.fixture
def logged(workflows: CommittedWorkflows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """t_a → t_b → t_c, where postings that have a summary enter at t_c; every execution is logged."""
    workflows.build(
        W,
        [Step("t_a", entry=True), Step("t_b"), Step("t_c", entry="skills")],
        [("t_a", "*", "t_b"), ("t_b", "*", "t_c"), ("t_c", "*", None)],
    )
    workflows.set_actor("test_python", "python", {"callable": "sample_actors:logged_echo"})
    log = tmp_path / "executions.log"
    monkeypatch.setenv("TURING_TEST_LOG", str(log))
    return log


def waves(log: Path) -> list[str]:
    """The conversations in the order they were executed, consecutive repeats collapsed."""
    order: list[str] = []
    for line in log.read_text().splitlines():
        conversation = line.split()[2]
        if not order or order[-1] != conversation:
            order.append(conversation)
    return order


def test_a_chunk_that_empties_its_wave_is_stored_before_the_next_wave_is_chosen(
    engine: Engine, logged: Path
) -> None:
    add_postings(engine, 8)  # enter at t_a: one chunk is the whole wave
    add_postings(engine, 5, summary="known")  # enter at t_c, waiting from the start
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=10).run()
    assert summary.completed == 13 and summary.steps_executed == 8 * 3 + 5
    # had t_a's chunk still been in flight, the next claim would have found t_b empty and taken t_c
    assert waves(logged) == ["t_a", "t_b", "t_c"]


def test_a_failed_completion_releases_every_claim_in_hand(
    engine: Engine, logged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_postings(engine, 40)
    calls = []
    complete = sql.complete_chunk

    def second_fails(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the completion broke")
        return complete(*args, **kwargs)

    monkeypatch.setattr(sql, "complete_chunk", second_fails)
    with pytest.raises(RuntimeError, match="the completion broke"):
        WaveBatchProcessor(W, engine=engine, chunk_size=10).run()
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT status, count(*) FROM posting_work GROUP BY status")).all())
        reclaims = conn.execute(text("SELECT sum(reclaims) FROM posting_work")).scalar_one()
    assert states == {"waiting": 40}  # the first chunk moved on to t_b; nothing is left claimed
    assert reclaims == 0
    with engine.connect() as conn:
        at_b = conn.execute(text(
            "SELECT count(*) FROM posting_work w JOIN conversations c USING (conversation_id) WHERE c.canonical_name = 't_b'"
        )).scalar_one()  # fmt: skip
    assert at_b == 10
