"""Branch evaluation in complete_chunk(): condition forms, precedence, sentinels, fallback, the error
handler, loop limits and stage write-back."""

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from workflows import CommittedWorkflows, Step, add_postings, complete_each

from turing_db import database
from turing_db.actors import Outcome

W = 7101


@pytest.mark.parametrize(
    ("condition", "output", "sentinel", "matches"),
    [
        ("*", "anything", None, True),
        ("*", "", "[ERROR]", False),  # '*' is for outputs, not for error outcomes
        ("PASS", "It is a PASS.", None, True),
        ("PASS", "passable", None, False),  # case-sensitive
        ("[TIMEOUT]", "", "[TIMEOUT]", True),
        ("[TIMEOUT]", "[TIMEOUT] in the text", None, False),  # sentinels match outcomes, not text
        ("[ERROR]", "", "[TIMEOUT]", False),
        ("{x}", "a {x} b", None, True),
    ],
)
def test_condition_forms(
    conn: Connection, condition: str, output: str, sentinel: str | None, matches: bool
) -> None:
    result = conn.execute(
        text("SELECT branch_matches(:c, :o, :s)"), {"c": condition, "o": output, "s": sentinel}
    )
    assert result.scalar_one() is matches


def step_once(engine: Engine, run: int, outcome: Outcome) -> database.Completion:
    chunk = database.claim_chunk(engine, run, "w", 1)
    assert chunk, "nothing to claim"
    [completion] = complete_each(engine, "w", chunk, outcome)
    return completion


def checkpoint_notes(engine: Engine, run: int) -> list[str]:
    with engine.connect() as conn:
        return (
            conn.execute(
                text(
                    "SELECT note FROM posting_state_checkpoints WHERE workflow_run_id = :r AND note IS NOT NULL"
                ),
                {"r": run},
            )
            .scalars()
            .all()
        )


@pytest.fixture
def judged(workflows: CommittedWorkflows, engine: Engine) -> int:
    """t_judge: [ERROR] (10) → t_fix, 'NOTES' (15) → t_fix, 'GOOD' (20) → t_fix, 'PASS' (20, later id) → end,
    '*' (30) → t_fix."""
    workflows.build(
        W,
        [Step("t_judge", entry=True), Step("t_fix")],
        [("t_judge", "[ERROR]", "t_fix", 10), ("t_judge", "NOTES", "t_fix", 15), ("t_judge", "GOOD", "t_fix", 20),
         ("t_judge", "PASS", None, 20), ("t_judge", "*", "t_fix", 30), ("t_fix", "*", None)],
    )  # fmt: skip
    add_postings(engine, 3)
    return database.start_run(engine, W, "w").workflow_run_id


def test_priority_then_id_decides(engine: Engine, judged: int) -> None:
    passed = step_once(engine, judged, Outcome(output="PASS"))
    assert (passed.state, passed.next_conversation) == ("ended", None)
    assert (
        step_once(engine, judged, Outcome(output="PASS WITH NOTES")).next_conversation == "t_fix"
    )  # priority 15
    assert (
        step_once(engine, judged, Outcome(output="GOOD PASS")).next_conversation == "t_fix"
    )  # same priority: id


def test_fallback_takes_unmatched_outputs(engine: Engine, judged: int) -> None:
    assert step_once(engine, judged, Outcome(output="no idea")).next_conversation == "t_fix"


def test_sentinel_branch_catches_its_error(engine: Engine, judged: int) -> None:
    completion = step_once(
        engine, judged, Outcome(sentinel="[ERROR]", error_kind="RuntimeError", error_message="boom")
    )
    assert completion.next_conversation == "t_fix"
    with engine.connect() as conn:
        call = conn.execute(
            text("SELECT status, error_kind FROM actor_calls WHERE workflow_run_id = :r"), {"r": judged}
        ).one()
    assert tuple(call) == ("error", "RuntimeError")


def test_unmatched_error_goes_to_the_error_handler_and_is_logged(engine: Engine, judged: int) -> None:
    chunk = database.claim_chunk(engine, judged, "w", 10)
    assert chunk is not None
    timed_out = complete_each(engine, "w", chunk, Outcome(sentinel="[TIMEOUT]"))
    assert {(c.state, c.next_conversation) for c in timed_out} == {("completed", "error_handler")}
    notes = checkpoint_notes(engine, judged)
    assert any("no branch of t_judge matches [TIMEOUT]: sent to the error handler" in note for note in notes)
    handler = database.claim_chunk(engine, judged, "w", 10)
    assert handler is not None and handler.conversation == "error_handler"
    handled = complete_each(engine, "w", handler, Outcome(output="recorded"))
    assert {(c.state, c.next_conversation) for c in handled} == {("failed", None)}
    with engine.connect() as conn:
        statuses = conn.execute(
            text("SELECT DISTINCT status FROM posting_work WHERE workflow_run_id = :r"), {"r": judged}
        )
        assert statuses.scalars().all() == ["failed"]


def test_loop_limit_turns_into_its_sentinel(workflows: CommittedWorkflows, engine: Engine) -> None:
    workflows.build(
        W + 1,
        [Step("t_draft", entry=True, max_visits=2), Step("t_grade")],
        [("t_draft", "*", "t_grade"), ("t_grade", "[LOOP_LIMIT]", None, 5), ("t_grade", "*", "t_draft", 10)],
    )
    add_postings(engine, 1)
    run = database.start_run(engine, W + 1, "w").workflow_run_id
    visited = []
    for _ in range(10):
        chunk = database.claim_chunk(engine, run, "w", 1)
        if chunk is None:
            break
        visited.append(chunk.conversation)
        complete_each(engine, "w", chunk, Outcome(output="FAIL"))
    assert visited == ["t_draft", "t_grade", "t_draft", "t_grade"]  # max_visits 2 on t_draft
    assert any("t_draft reached max_visits 2" in note for note in checkpoint_notes(engine, run))
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT status FROM posting_work WHERE workflow_run_id = :r"), {"r": run}
            ).scalar()
            == "done"
        )


def test_a_saved_stage_is_written_to_the_posting_and_a_bad_value_fails(
    engine: Engine, workflows: CommittedWorkflows
) -> None:
    workflows.build(
        W + 2, [Step("t_score", entry=True)], [("t_score", "*", None), ("t_score", "[FAILED]", None)]
    )
    with engine.begin() as conn:
        conn.execute(text("UPDATE conversations SET saves_stage = 'score' WHERE canonical_name = 't_score'"))
    good, bad = add_postings(engine, 2, summary="s", skills="[]")
    run = database.start_run(engine, W + 2, "w").workflow_run_id
    chunk = database.claim_chunk(engine, run, "w", 10)
    assert chunk is not None
    claims = {claim.posting_id: claim for claim in chunk.claims}
    done = database.complete_chunk(engine, "w", chunk, [(claims[good], Outcome(output=" 87.5 ")),
                                                        (claims[bad], Outcome(output="very good"))])  # fmt: skip
    assert [(c.posting_id, c.state) for c in done] == [(good, "ended"), (bad, "ended")]
    with engine.connect() as conn:
        scores = dict(conn.execute(text("SELECT posting_id, score FROM postings")).all())
        bad_call = conn.execute(
            text("SELECT status, error_kind FROM actor_calls WHERE posting_id = :p"), {"p": bad}
        ).one()
    assert float(scores[good]) == 87.5 and scores[bad] is None
    assert tuple(bad_call) == ("error", "invalid_stage_value")


def test_a_loop_without_max_visits_still_ends(workflows: CommittedWorkflows, engine: Engine) -> None:
    workflows.build(
        W + 3, [Step("t_spin", entry=True)], [("t_spin", "AGAIN", "t_spin", 10), ("t_spin", "*", None, 20)]
    )
    add_postings(engine, 1)
    run = database.start_run(engine, W + 3, "w").workflow_run_id
    steps = 0
    while chunk := database.claim_chunk(engine, run, "w", 1):
        complete_each(engine, "w", chunk, Outcome(output="AGAIN"))
        steps += 1
        assert steps < 100, "the loop did not end"
    assert steps == 26  # 25 visits, then [LOOP_LIMIT] (no branch for it): the error handler
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT status FROM posting_work WHERE workflow_run_id = :r"), {"r": run}
            ).scalar()
            == "failed"
        )


def test_the_error_handler_has_no_visit_limit(engine: Engine, workflows: CommittedWorkflows) -> None:
    """max_visits limits steps; a branch into the global error handler taken for the 31st time still
    goes there with its own outcome, not [LOOP_LIMIT]."""
    workflows.build(
        W + 5,
        [Step("t_call", entry=True)],
        [("t_call", "[TIMEOUT]", "error_handler", 10), ("t_call", "*", None, 20)],
    )
    add_postings(engine, 1)
    run = database.start_run(engine, W + 5, "w").workflow_run_id
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE posting_work SET visits = visits || jsonb_build_object("
                 "(SELECT conversation_id FROM conversations WHERE conversation_type = 'error_handler')::text, 30) "
                 "WHERE workflow_run_id = :r"),
            {"r": run},
        )  # fmt: skip
    completion = step_once(engine, run, Outcome(sentinel="[TIMEOUT]"))
    assert (completion.state, completion.next_conversation, completion.note) == (
        "completed",
        "error_handler",
        None,
    )
    with engine.connect() as conn:
        outcome = conn.execute(
            text("SELECT last_outcome FROM posting_work WHERE workflow_run_id = :r"), {"r": run}
        ).scalar_one()
    assert outcome == "[TIMEOUT]"


def test_a_stage_column_that_does_not_exist_fails_the_completion_loudly(
    engine: Engine, workflows: CommittedWorkflows
) -> None:
    workflows.build(W + 4, [Step("t_score", entry=True)], [("t_score", "*", None)])
    with engine.begin() as conn:
        conn.execute(text("UPDATE conversations SET saves_stage = 'score' WHERE canonical_name = 't_score'"))
    add_postings(engine, 1, summary="s", skills="[]")
    run = database.start_run(engine, W + 4, "w").workflow_run_id
    chunk = database.claim_chunk(engine, run, "w", 1)
    assert chunk is not None
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE stages SET posting_column = 'no_such_column' WHERE stage_name = 'score'")
            )
        with pytest.raises(DBAPIError, match="stage column postings.no_such_column does not exist"):
            complete_each(engine, "w", chunk, Outcome(output="50"))
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE stages SET posting_column = 'score' WHERE stage_name = 'score'"))
    with engine.connect() as conn:  # nothing of the chunk was stored
        assert (
            conn.execute(
                text("SELECT status FROM posting_work WHERE workflow_run_id = :r"), {"r": run}
            ).scalar()
            == "claimed"
        )


def test_a_session_holding_the_previous_versions_temp_table_completes(engine: Engine, judged: int) -> None:
    """A pooled session of an older worker may hold pg_temp.turing_chunk with other columns."""
    chunk = database.claim_chunk(engine, judged, "w", 1)
    assert chunk is not None
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TEMP TABLE IF NOT EXISTS turing_chunk (posting_id bigint PRIMARY KEY, claim_token uuid)"
            )
        )
        rows = conn.execute(
            text("SELECT accepted FROM complete_chunk(:r, 'w', CAST(:results AS jsonb))"),
            {"r": judged, "results": f'[{{"posting_id": {chunk.claims[0].posting_id}, "claim_token": "{chunk.claim_token}", "output": "PASS"}}]'},
        ).scalars().all()  # fmt: skip
    assert rows == [True]
