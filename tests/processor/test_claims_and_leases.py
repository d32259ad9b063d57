"""Claims, leases, the sweeper and stale results, driven through the SQL functions (time is simulated
by back-dating leases, not by sleeping)."""

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from workflows import CommittedWorkflows, Step, add_postings, complete_each

from turing_db import database
from turing_db.actors import ActorSpec, Outcome
from turing_db.database import Chunk, Claim
from turing_db.validation import WorkflowInvalid

W = 7001


@pytest.fixture
def run_id(workflows: CommittedWorkflows, engine: Engine) -> int:
    workflows.build(
        W, [Step("t_one", entry=True), Step("t_two")], [("t_one", "*", "t_two"), ("t_two", "*", None)]
    )
    add_postings(engine, 10)
    return database.start_run(engine, W, "worker-a").workflow_run_id


def claim(engine: Engine, run: int, worker: str, size: int) -> Chunk:
    chunk = database.claim_chunk(engine, run, worker, size)
    assert chunk is not None, "nothing to claim"
    return chunk


def expire_leases(engine: Engine, run: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE posting_work SET lease_expires_at = now() - interval '1 second' "
                 "WHERE workflow_run_id = :run AND status = 'claimed'"),
            {"run": run},
        )  # fmt: skip


def work_rows(engine: Engine, run: int) -> dict[int, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT posting_id, status, reclaims, attempt FROM posting_work WHERE workflow_run_id = :run"
            ),
            {"run": run},
        )
        return {row.posting_id: (row.status, row.reclaims, row.attempt) for row in rows}


def test_claims_are_capped_leased_and_rendered(engine: Engine, run_id: int) -> None:
    chunk = claim(engine, run_id, "worker-a", 4)
    assert len(chunk.claims) == 4 and chunk.conversation == "t_one"
    assert (chunk.actor.actor_name, chunk.actor.actor_type) == ("test_python", "python")
    assert all(c.prompt.startswith("Work on Job ") and c.attempt == 1 for c in chunk.claims)
    second = claim(engine, run_id, "worker-b", 100)
    assert {c.posting_id for c in second.claims}.isdisjoint({c.posting_id for c in chunk.claims})
    assert len(second.claims) == 6
    assert second.claim_token != chunk.claim_token  # one token per chunk


def test_the_row_form_for_workers_of_the_previous_version_claims_the_same_chunk(
    engine: Engine, run_id: int
) -> None:
    """claim_chunk() (rows, as before migration 0006) claims through claim_chunk_v2(); its claims complete."""
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT * FROM claim_chunk(:run, 'old-worker', 3)"), {"run": run_id}).all()
    assert [row.canonical_name for row in rows] == ["t_one"] * 3
    assert len({row.claim_token for row in rows}) == 1 and all(row.attempt == 1 for row in rows)
    assert all(row.prompt.startswith("Work on Job ") for row in rows)
    assert all(row.context["posting_id"] == row.posting_id and row.context["visit"] == 1 for row in rows)
    assert rows[0].lease_expires_at is not None and rows[0].actor_type == "python"
    chunk = Chunk(run_id, rows[0].conversation_id, rows[0].canonical_name, rows[0].claim_token,
                  str(rows[0].lease_expires_at), ActorSpec(rows[0].actor_name, rows[0].actor_type),
                  [Claim(row.posting_id, row.prompt, row.attempt, row.context) for row in rows])  # fmt: skip
    done = complete_each(engine, "old-worker", chunk, Outcome(output="ok"))
    assert [(c.accepted, c.next_conversation) for c in done] == [(True, "t_two")] * 3


def test_a_wave_runs_before_the_next_conversation(engine: Engine, run_id: int) -> None:
    complete_each(engine, "worker-a", claim(engine, run_id, "worker-a", 3), Outcome(output="ok"))
    nxt = claim(engine, run_id, "worker-a", 100)
    assert nxt.conversation == "t_one"  # the rest of wave t_one first
    assert len(nxt.claims) == 7


def test_lease_expiry_returns_the_work_and_twice_reclaimed_postings_come_back_one_at_a_time(
    engine: Engine, run_id: int
) -> None:
    """Reclaimed twice, a posting is a suspect: claimed alone, so a poison pill among the postings a
    dying worker held cannot take the others down with it again."""
    first = claim(engine, run_id, "dead-worker", 10)
    expire_leases(engine, run_id)
    again = claim(engine, run_id, "worker-b", 10)  # claiming sweeps expired leases first
    assert sorted(c.posting_id for c in again.claims) == sorted(c.posting_id for c in first.claims)
    assert sorted(work_rows(engine, run_id).values()) == [("claimed", 1, 1)] * 10
    expire_leases(engine, run_id)
    alone = claim(engine, run_id, "worker-c", 10)
    assert [c.posting_id for c in alone.claims] == [min(c.posting_id for c in first.claims)]
    assert sorted(work_rows(engine, run_id).values()) == [("claimed", 2, 1)] + [("waiting", 2, 0)] * 9
    complete_each(engine, "worker-c", alone, Outcome(output="ok"))  # progress: above suspicion again
    assert work_rows(engine, run_id)[alone.claims[0].posting_id][1] == 0


def test_stale_claim_token_is_refused(engine: Engine, run_id: int) -> None:
    old = claim(engine, run_id, "paused-worker", 10)
    expire_leases(engine, run_id)
    new = claim(engine, run_id, "worker-b", 10)  # the same ten, the lowest posting id first
    assert new.claims[0].posting_id == old.claims[0].posting_id and new.claim_token != old.claim_token
    [late] = database.complete_chunk(
        engine, "paused-worker", old, [(old.claims[0], Outcome(output="zombie"))]
    )
    assert (late.accepted, late.state) == (False, "stale")
    [fresh] = database.complete_chunk(engine, "worker-b", new, [(new.claims[0], Outcome(output="fresh"))])
    assert fresh.accepted and fresh.next_conversation == "t_two"
    with engine.connect() as conn:
        outputs = conn.execute(
            text("SELECT output FROM conversation_outputs WHERE posting_id = :p"),
            {"p": old.claims[0].posting_id},
        )
        assert outputs.scalars().all() == ["fresh"]
    [again] = database.complete_chunk(engine, "worker-b", new, [(new.claims[0], Outcome(output="twice"))])
    assert not again.accepted  # a completed claim cannot be completed twice


def test_a_poison_posting_is_quarantined_alone(engine: Engine, run_id: int) -> None:
    """A worker dies holding all ten postings, twice; then every claim of the poison one (posting 1, a
    suspect claimed alone) kills its worker again, while the others complete when their turn comes."""
    for _ in range(2):  # the worker dies holding all ten, twice: now they are suspects
        assert len(claim(engine, run_id, "crashing-worker", 10).claims) == 10
        expire_leases(engine, run_id)
    for _ in range(2):  # max_reclaims is 3: the fourth expiry quarantines
        assert len(claim(engine, run_id, "crashing-worker", 10).claims) == 1
        expire_leases(engine, run_id)
    while (chunk := database.claim_chunk(engine, run_id, "worker-b", 10)) is not None:
        complete_each(engine, "worker-b", chunk, Outcome(output="ok"))  # each suspect alone, and it works
    rows = work_rows(engine, run_id)
    quarantined = [posting for posting, (status, _, _) in rows.items() if status == "quarantined"]
    assert len(quarantined) == 1
    assert sorted(row[:2] for posting, row in rows.items() if posting not in quarantined) == [("done", 0)] * 9
    with engine.connect() as conn:
        reason = conn.execute(text("SELECT quarantine_reason FROM postings WHERE posting_id = :p"),
                              {"p": quarantined[0]}).scalar_one()  # fmt: skip
        states = conn.execute(text("SELECT state FROM posting_state_checkpoints WHERE posting_id = :p ORDER BY checkpoint_id"),
                              {"p": quarantined[0]}).scalars().all()  # fmt: skip
    assert reason.startswith("claimed 4 times in run") and "t_one" in reason
    assert states == ["routed", "reclaimed", "reclaimed", "reclaimed", "quarantined"]


def test_the_cron_sweeper_sweeps_every_run(engine: Engine, run_id: int) -> None:
    claim(engine, run_id, "dead-worker", 5)
    expire_leases(engine, run_id)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT sweep_expired_claims()")).scalar_one() == 5
        job = conn.execute(
            text("SELECT schedule, command FROM cron.job WHERE jobname = 'sweep-expired-claims'")
        ).one()
    assert tuple(job) == ("* * * * *", "SELECT public.sweep_expired_claims()")


def test_heartbeat_extends_the_leases_it_holds(engine: Engine, run_id: int) -> None:
    chunk = claim(engine, run_id, "worker-a", 3)
    expire_leases(engine, run_id)
    assert database.heartbeat(engine, run_id, "worker-a", [chunk.claim_token]) == 3
    assert database.heartbeat(engine, run_id, "someone-else", [chunk.claim_token]) == 0
    assert database.claim_chunk(engine, run_id, "worker-b", 10) and all(
        reclaims == 0 for _, reclaims, _ in work_rows(engine, run_id).values()
    )


def test_released_claims_return_without_counting_a_reclaim(engine: Engine, run_id: int) -> None:
    chunk = claim(engine, run_id, "worker-a", 10)
    assert database.release_claims(engine, run_id, "worker-a", [chunk.claim_token]) == 10
    assert all(row == ("waiting", 0, 0) for row in work_rows(engine, run_id).values())


def test_a_second_run_is_refused_unless_it_joins(engine: Engine, run_id: int) -> None:
    with pytest.raises(DBAPIError, match=f"already has an active run {run_id}"):
        database.start_run(engine, W, "worker-b")
    joined = database.start_run(engine, W, "worker-b", join=True)
    assert (joined.workflow_run_id, joined.postings_routed) == (run_id, 0)


def test_resume_takes_over_a_run_whose_workers_are_gone(engine: Engine, run_id: int) -> None:
    claim(engine, run_id, "worker-a", 4)
    resumed = database.start_run(engine, W, "worker-new", resume_run_id=run_id)
    assert resumed.workflow_run_id == run_id and resumed.resumed
    assert sorted(status for status, _, _ in work_rows(engine, run_id).values()) == ["waiting"] * 10


def test_an_invalid_workflow_is_refused_before_anything_is_touched(
    engine: Engine, workflows: CommittedWorkflows
) -> None:
    workflows.build(W + 1, [Step("t_broken")], [("t_broken", "*", None)])  # no entry point
    add_postings(engine, 3)
    with pytest.raises(WorkflowInvalid, match=f"workflow {W + 1} is invalid") as refused:
        database.start_run(engine, W + 1, "worker-a")
    # the refusal carries every finding: nobody needs to validate again to show them
    assert ("error", "entry_point_missing") in {
        (f.severity, f.check_name) for f in refused.value.report.findings
    }
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM workflow_runs WHERE workflow_id = :w"), {"w": W + 1}
            ).scalar()
            == 0
        )


def test_a_step_that_lost_its_actor_during_the_run_is_refused_before_anything_is_claimed(
    engine: Engine, run_id: int
) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE conversations SET actor_id = NULL WHERE canonical_name = 't_one'"))
    try:
        with pytest.raises(DBAPIError, match="conversation t_one has no actor since the run started"):
            database.claim_chunk(engine, run_id, "worker-a", 4)
    finally:
        with engine.begin() as conn:
            conn.execute(text(
                "UPDATE conversations SET actor_id = (SELECT actor_id FROM actors WHERE actor_name = 'test_python') "
                "WHERE canonical_name = 't_one'"
            ))  # fmt: skip
    assert {status for status, _, _ in work_rows(engine, run_id).values()} == {"waiting"}


def wait_for_backend_exit(engine: Engine, worker: str) -> None:
    """A closed session's backend exits (and lets its locks go) a moment after the client is gone."""
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while conn.execute(text("SELECT worker_alive(:w)"), {"w": worker}).scalar_one():
            assert time.monotonic() < deadline, "the closed session still holds its lock"
            time.sleep(0.05)
            conn.rollback()


def test_a_worker_is_alive_while_its_session_holds_its_lock(
    engine: Engine, workflows: CommittedWorkflows
) -> None:
    """No heartbeat age decides: the lock in the worker's session does, and its claims return at once."""
    workflows.build(W + 2, [Step("t_live", entry=True)], [("t_live", "*", None)])
    add_postings(engine, 4)
    own = create_engine(engine.url, poolclass=NullPool)  # a session of its own, as turing_db.liveness opens
    session = own.connect()
    database.hold_worker_locks(session, ["host:1:abc:0"])
    run = database.start_run(engine, W + 2, "host:1:abc:0", holds_lock=True).workflow_run_id
    claim(engine, run, "host:1:abc:0", 2)
    with pytest.raises(DBAPIError, match="with 1 live worker"):
        database.start_run(engine, W + 2, "host:2:def:0", holds_lock=True)
    session.close()  # the worker's process died: its session, and the lock, are gone
    own.dispose()
    wait_for_backend_exit(engine, "host:1:abc:0")
    taken = database.start_run(engine, W + 2, "host:2:def:0", holds_lock=True)
    assert (taken.workflow_run_id, taken.resumed) == (run, True)
    assert sorted(status for status, _, _ in work_rows(engine, run).values()) == ["waiting"] * 4
    assert database.claim_chunk(engine, run, "host:1:abc:0", 4) is None  # taken over: claims nothing
    state = database.worker_state(engine, run, "host:1:abc:0")
    assert (state.worker_stopped, state.run_status, state.waiting) == (True, "running", 4)
