"""Completion written behind the workers: waves keep their order, and a failed completion hands every
claim in hand back instead of leaving it to expire."""

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings, complete_each

from turing_db import database
from turing_db.actors import Outcome
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


@pytest.fixture
def slow_completions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every completion takes 0.2 s longer, so the next claim surely runs while it is in flight."""
    complete = database.complete_chunk

    def slowly(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        return complete(*args, **kwargs)

    monkeypatch.setattr(database, "complete_chunk", slowly)


@pytest.mark.parametrize("first_wave", [8, 10, 30])
def test_the_next_wave_is_chosen_only_after_the_completion_in_flight_lands(
    engine: Engine, logged: Path, slow_completions: None, first_wave: int
) -> None:
    """t_c has postings waiting from the start. Had a claim run while t_a's last chunk was still
    being stored, it would have found t_b empty and taken t_c first (a part chunk, a whole one, several)."""
    add_postings(engine, first_wave)  # enter at t_a
    add_postings(engine, 5, summary="known")  # enter at t_c
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=10).run()
    assert summary.completed == first_wave + 5 and summary.steps_executed == first_wave * 3 + 5
    assert waves(logged) == ["t_a", "t_b", "t_c"]


def test_a_failed_completion_releases_every_claim_in_hand(
    engine: Engine, logged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_postings(engine, 40)
    calls = []
    complete = database.complete_chunk

    def second_fails(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the completion broke")
        return complete(*args, **kwargs)

    monkeypatch.setattr(database, "complete_chunk", second_fails)
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


def test_an_actor_that_cannot_be_built_releases_the_chunk(
    engine: Engine, logged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_postings(engine, 15)
    processor = WaveBatchProcessor(W, engine=engine, chunk_size=10)

    def broken(chunk):  # type: ignore[no-untyped-def]
        raise RuntimeError("no actor today")

    monkeypatch.setattr(processor, "_actor", broken)
    with pytest.raises(RuntimeError, match="no actor today"):
        processor.run()
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT status, count(*) FROM posting_work GROUP BY status")).all())
    assert states == {"waiting": 15}


def test_the_error_handlers_own_loop_ends(engine: Engine, workflows: CommittedWorkflows) -> None:
    """A step's branch into the error handler has no visit limit, but the handler's branches do: a
    handler that sends its own timeouts back to itself stops after 25 visits."""
    workflows.build(W + 1, [Step("t_lone", entry=True)], [("t_lone", "*", None)])
    add_postings(engine, 1)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO instruction_steps (instruction_id, branch_condition, next_conversation_id, branch_priority) "
            "SELECT i.instruction_id, '[TIMEOUT]', c.conversation_id, 1 FROM instructions i "
            "JOIN conversations c USING (conversation_id) WHERE c.conversation_type = 'error_handler' AND i.enabled"
        ))  # fmt: skip
    try:
        run = database.start_run(engine, W + 1, "w").workflow_run_id
        chunk = database.claim_chunk(engine, run, "w", 1)
        assert chunk is not None
        complete_each(engine, "w", chunk, Outcome(sentinel="[TIMEOUT]"))  # to the handler
        handled = 0
        while chunk := database.claim_chunk(engine, run, "w", 1):
            [done] = complete_each(engine, "w", chunk, Outcome(sentinel="[TIMEOUT]"))
            handled += 1
            assert handled < 100, "the error handler loops forever"
        assert (handled, done.state) == (25, "failed")
        assert done.note is not None and "error_handler reached max_visits 25" in done.note
    finally:
        with engine.begin() as conn:
            conn.execute(text(
                "DELETE FROM instruction_steps s USING instructions i, conversations c "
                "WHERE s.instruction_id = i.instruction_id AND c.conversation_id = i.conversation_id "
                "AND c.conversation_type = 'error_handler' AND s.branch_condition = '[TIMEOUT]'"
            ))  # fmt: skip


def test_abandoning_a_chunk_keeps_what_finished_and_hands_back_the_rest(
    engine: Engine, workflows: CommittedWorkflows
) -> None:
    """A second stop signal releases the unfinished claims; the chunk shares one claim token, so the
    finished results must be stored first or they would be released with the rest and refused as stale."""
    workflows.build(W + 2, [Step("t_half", entry=True)], [("t_half", "*", None)])
    workflows.set_actor("test_python", "python", {"callable": "sample_actors:slow_when_odd"})
    add_postings(engine, 4)
    processor = WaveBatchProcessor(W + 2, engine=engine, chunk_size=4)
    threading.Timer(1.0, processor.stop, kwargs={"abandon": True}).start()
    summary = processor.run()
    assert (summary.steps_executed, summary.stale_results, summary.completed) == (2, 0, 2)
    with engine.connect() as conn:
        states = dict(conn.execute(text("SELECT status, count(*) FROM posting_work GROUP BY status")).all())
    assert states == {"done": 2, "waiting": 2}
