"""Whole worker processes: kill -9 and resume, two processes on one run, a graceful SIGTERM."""

import collections
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

pytestmark = pytest.mark.slow
W = 7201
TESTS_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture
def logged_workflow(workflows: CommittedWorkflows) -> int:
    workflows.build(W, [Step("t_a", entry=True), Step("t_b")], [("t_a", "*", "t_b"), ("t_b", "*", None)])
    workflows.set_actor("test_python", "python", {"callable": "sample_actors:logged_echo"})
    return W


def worker_env(turing_env: dict[str, str], log: Path, sleep: float) -> dict[str, str]:
    return {**turing_env, "PYTHONPATH": str(TESTS_DIR), "TURING_TEST_LOG": str(log), "TURING_TEST_SLEEP": str(sleep),
            "COLUMNS": "200"}  # fmt: skip


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "turing_db.cli", "run", "--workflow", str(W), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def scalar(engine: Engine, query: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(query)).scalar_one())


def wait_until(condition, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def executions(log: Path) -> collections.Counter[tuple[str, str]]:
    lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    return collections.Counter((posting, conversation) for _, posting, conversation in lines)


def assert_every_step_recorded_once(engine: Engine, postings: int) -> None:
    with engine.connect() as conn:
        per_step = conn.execute(text(
            "SELECT count(*), count(DISTINCT (posting_id, conversation_id)) FROM conversation_outputs"
        )).one()  # fmt: skip
        statuses = dict(conn.execute(text("SELECT status, count(*) FROM posting_work GROUP BY status")).all())
    assert tuple(per_step) == (2 * postings, 2 * postings)
    assert statuses == {"done": postings}


def test_kill_9_mid_chunk_then_a_plain_run_resumes_at_once_and_loses_nothing(
    engine: Engine, logged_workflow: int, turing_env: dict[str, str], tmp_path: Path
) -> None:
    add_postings(engine, 200)
    log = tmp_path / "executions.log"
    env = worker_env(turing_env, log, sleep=0.05)
    worker = start_worker(env, "--chunk-size", "20")
    wait_until(lambda: scalar(engine, "SELECT count(*) FROM conversation_outputs") >= 60)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    recorded_before = scalar(engine, "SELECT count(*) FROM conversation_outputs")
    run_id = scalar(engine, "SELECT max(workflow_run_id) FROM workflow_runs")

    # the dead worker's heartbeat is fresh and its leases are far from expiry, but its session is gone
    started = time.monotonic()
    resumed = start_worker(env, "--chunk-size", "20")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out + err
    assert f"resumed run {run_id}: 200 postings — 200 completed" in out
    assert time.monotonic() - started < 60  # no lease (300 s) was waited out
    assert_every_step_recorded_once(engine, 200)
    assert scalar(engine, "SELECT count(*) FROM conversation_outputs") >= recorded_before
    repeated = [step for step, count in executions(log).items() if count > 1]
    # only the chunks in hand at the kill ran twice: the one executing, and at most the one whose
    # completion was being written behind it (its transaction died uncommitted)
    assert len(repeated) <= 2 * 20
    assert len(executions(log)) == 400


def test_a_second_start_is_refused_while_a_worker_lives_and_join_joins(
    engine: Engine, logged_workflow: int, turing_env: dict[str, str], tmp_path: Path
) -> None:
    add_postings(engine, 60)
    env = worker_env(turing_env, tmp_path / "executions.log", sleep=0.3)  # the first runs 5 s at least
    first = start_worker(env, "--chunk-size", "5")
    wait_until(lambda: scalar(engine, "SELECT count(*) FROM conversation_outputs") >= 5)
    refused = start_worker(env)
    out, _ = refused.communicate(timeout=60)
    run_id = scalar(engine, "SELECT max(workflow_run_id) FROM workflow_runs")
    assert refused.returncode == 2, out
    assert f"already has an active run {run_id} with 1 live worker(s)" in out and "--join" in out
    joined = start_worker(env, "--join", "--chunk-size", "5")
    for worker in (first, joined):
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, out + err
    assert_every_step_recorded_once(engine, 60)


def test_a_stopped_worker_taken_over_writes_nothing_when_it_wakes_and_stops(
    engine: Engine, logged_workflow: int, turing_env: dict[str, str], tmp_path: Path
) -> None:
    add_postings(engine, 40)
    log = tmp_path / "executions.log"
    env = worker_env(turing_env, log, sleep=0.2)
    paused = start_worker(env, "--chunk-size", "10")
    wait_until(lambda: scalar(engine, "SELECT count(*) FROM posting_work WHERE status = 'claimed'") > 0)
    paused.send_signal(signal.SIGSTOP)
    try:
        refused = start_worker(env)  # SIGSTOP keeps the session: it looks alive
        out, _ = refused.communicate(timeout=60)
        assert refused.returncode == 2, out
        run_id = scalar(engine, "SELECT max(workflow_run_id) FROM workflow_runs")
        taker = start_worker(env, "--resume", str(run_id), "--chunk-size", "10")
        out, err = taker.communicate(timeout=120)
        assert taker.returncode == 0, out + err
        outputs_after_takeover = scalar(engine, "SELECT count(*) FROM conversation_outputs")
    finally:
        paused.send_signal(signal.SIGCONT)
    out, err = paused.communicate(timeout=60)
    assert paused.returncode == 0, out + err
    assert scalar(engine, "SELECT count(*) FROM conversation_outputs") == outputs_after_takeover
    assert_every_step_recorded_once(engine, 40)


def test_the_exit_status_says_whether_every_posting_completed(
    engine: Engine, workflows: CommittedWorkflows, turing_env: dict[str, str], tmp_path: Path
) -> None:
    workflows.build(W, [Step("t_a", entry=True)], [("t_a", "*", None)])  # an error matches no branch: failed
    workflows.set_actor("test_python", "python", {"callable": "sample_actors:fail"})
    add_postings(engine, 5)
    env = worker_env(turing_env, tmp_path / "executions.log", sleep=0)
    failing = start_worker(env)
    out, err = failing.communicate(timeout=120)
    assert failing.returncode == 3, out + err  # finished, but not one posting completed
    workflows.set_actor("test_python", "python", {"callable": "sample_actors:echo"})
    with engine.begin() as conn:
        conn.execute(text("SELECT retry_postings(NULL, NULL)"))
    passing = start_worker(env)
    out, err = passing.communicate(timeout=120)
    assert passing.returncode == 0, out + err


def test_two_worker_processes_never_execute_a_step_twice(
    engine: Engine, logged_workflow: int, turing_env: dict[str, str], tmp_path: Path
) -> None:
    add_postings(engine, 2000)
    log = tmp_path / "executions.log"
    env = worker_env(turing_env, log, sleep=0.005)
    first = start_worker(env, "--join", "--chunk-size", "100")
    second = start_worker(env, "--join", "--chunk-size", "100")
    for worker in (first, second):
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, out + err
    assert_every_step_recorded_once(engine, 2000)
    counts = executions(log)
    assert len(counts) == 4000 and max(counts.values()) == 1
    pids = {line.split()[0] for line in log.read_text().splitlines()}
    assert len(pids) == 2, "both processes should have done work"
    assert scalar(engine, "SELECT count(*) FROM workflow_runs") == 1


def test_sigterm_finishes_the_chunk_in_hand_and_the_next_run_resumes(
    engine: Engine, logged_workflow: int, turing_env: dict[str, str], tmp_path: Path
) -> None:
    add_postings(engine, 100)
    log = tmp_path / "executions.log"
    env = worker_env(turing_env, log, sleep=0.1)
    worker = start_worker(env, "--chunk-size", "10")
    wait_until(lambda: scalar(engine, "SELECT count(*) FROM conversation_outputs") >= 20)
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 4, out + err  # stopped with postings left: a plain run resumes
    assert "stopping: finishing the chunks in hand" in out
    assert "the run is paused" in out
    assert scalar(engine, "SELECT count(*) FROM posting_work WHERE status = 'claimed'") == 0
    assert scalar(engine, "SELECT count(*) FROM run_workers WHERE stopped_at IS NULL") == 0
    counts_at_stop = executions(log)
    assert sum(counts_at_stop.values()) == scalar(engine, "SELECT count(*) FROM conversation_outputs")

    again = start_worker(env, "--chunk-size", "10")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    assert "resumed run" in out and "100 completed" in out
    assert_every_step_recorded_once(engine, 100)
    assert max(executions(log).values()) == 1  # a graceful stop repeats nothing


def test_library_api_runs_a_workflow_and_returns_its_summary(
    engine: Engine, logged_workflow: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from turing_db import WaveBatchProcessor

    monkeypatch.setenv("TURING_TEST_LOG", str(tmp_path / "executions.log"))
    add_postings(engine, 30)
    summary = WaveBatchProcessor(workflow_id=W, engine=engine, workers=2, chunk_size=7).run(limit=25)
    assert (summary.status, summary.postings_in_run, summary.completed, summary.pending) == (
        "completed",
        25,
        25,
        0,
    )
    assert [row["conversation"] for row in summary.conversations] == ["t_a", "t_b"]
    assert summary.steps_executed == 50
    assert os.path.exists(tmp_path / "executions.log")


def test_a_database_outage_mid_run_is_waited_out_and_loses_nothing(
    engine: Engine, logged_workflow: int, turing_env: dict[str, str], tmp_path: Path, pg_server
) -> None:  # type: ignore[no-untyped-def]
    """The server is down for 20 s (longer than the 6 retries of the previous version lasted)."""
    add_postings(engine, 200)
    log = tmp_path / "executions.log"
    worker = start_worker(worker_env(turing_env, log, sleep=0.05), "--chunk-size", "20")
    wait_until(lambda: scalar(engine, "SELECT count(*) FROM conversation_outputs") >= 40)
    data = Path(pg_server.datadir)
    command_line = shlex.split((data / "postmaster.opts").read_text())[1:]  # what the server was started with
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(
        [pg_server.executable, "stop", "-D", str(data), "-m", "fast", "-w"], **quiet, timeout=60, check=True
    )
    try:
        time.sleep(20)
        gave_up = worker.poll() is not None
    finally:  # whatever happened, the session's server comes back for the tests after this one
        subprocess.run([pg_server.executable, "start", "-D", str(data), "-w", "-t", "120", "-l",
                        str(data.parent / "restart.log"), "-o", shlex.join(command_line)],
                       **quiet, timeout=150, check=True)  # fmt: skip
    out, err = worker.communicate(timeout=180)
    assert not gave_up, "the worker gave up during the outage: " + err[-2000:]
    assert worker.returncode == 0, out + err
    assert "database unreachable, retrying" in err and "liveness session lost: reconnecting" in err
    assert "200 postings — 200 completed" in out
    assert_every_step_recorded_once(engine, 200)
    repeated = [step for step, count in executions(log).items() if count > 1]
    assert len(repeated) <= 2 * 20  # at most the chunks in hand when the server went away


def test_a_kill_9_costs_only_the_calls_in_flight_and_one_batch(
    engine: Engine, logged_workflow: int, turing_env: dict[str, str], tmp_path: Path
) -> None:
    """Results are stored as they finish (batches of 10 here), not a 200-posting chunk at a time."""
    add_postings(engine, 400)
    log = tmp_path / "executions.log"
    env = {**worker_env(turing_env, log, sleep=0.05), "TURING_FLUSH_BATCH": "10"}
    worker = start_worker(env, "--chunk-size", "200")
    wait_until(lambda: sum(executions(log).values()) >= 300)  # in the middle of the second chunk
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    executed_before = sum(executions(log).values())
    stored_before = scalar(engine, "SELECT count(*) FROM conversation_outputs")
    resumed = start_worker(env, "--chunk-size", "200")
    out, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, out + err
    assert_every_step_recorded_once(engine, 400)
    repeated = sum(count - 1 for count in executions(log).values())
    in_flight = 8  # the actor's concurrency
    # executed but not stored at the kill: the calls in flight, the batch being written, the one filling
    assert executed_before - stored_before <= in_flight + 2 * 10
    assert repeated <= in_flight + 2 * 10, f"{repeated} executions repeated"


@pytest.mark.parametrize("workers", [1, 4])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_instant_then_a_plain_run_gives_the_uninterrupted_result(
    engine: Engine, logged_workflow: int, turing_env: dict[str, str], tmp_path: Path, seed: int, workers: int
) -> None:
    ids = add_postings(engine, 120)
    log = tmp_path / "executions.log"
    env = {**worker_env(turing_env, log, sleep=0.02), "TURING_FLUSH_BATCH": "10"}
    worker = start_worker(env, "--chunk-size", "20", "--workers", str(workers))
    executed = random.Random(seed).randint(5, 200)  # of 240 steps: the instant, as progress
    wait_until(lambda: sum(executions(log).values()) >= executed, timeout=120)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    resumed = start_worker(env, "--chunk-size", "20", "--workers", str(workers))
    out, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, out + err
    assert_every_step_recorded_once(engine, 120)
    with engine.connect() as conn:
        outputs = set(conn.execute(text(
            "SELECT o.posting_id, c.canonical_name, o.output FROM conversation_outputs o "
            "JOIN conversations c USING (conversation_id)"
        )).all())  # fmt: skip
    expected = {(p, "t_a", f"done: Work on Job {p - ids[0] + 1}") for p in ids}
    assert {row for row in outputs if row[1] == "t_a"} == expected  # what an uninterrupted run stores
    repeated = sum(count - 1 for count in executions(log).values())
    assert repeated <= workers * (8 + 2 * 10), f"{repeated} executions repeated"


def test_a_lost_liveness_session_is_restored_before_the_sweeper_can_take_live_claims(
    engine: Engine, logged_workflow: int, turing_env: dict[str, str], tmp_path: Path
) -> None:
    """Pooled connections reconnect silently; the liveness session is watched and its locks re-taken."""
    add_postings(engine, 16)
    log = tmp_path / "executions.log"
    worker = start_worker(worker_env(turing_env, log, sleep=4), "--chunk-size", "16")
    wait_until(lambda: scalar(engine, "SELECT count(*) FROM posting_work WHERE status = 'claimed'") > 0)
    with engine.begin() as conn:  # the liveness backend: the session holding the worker's advisory lock
        ended = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' "
            "AND classid = (hashtext('turing.worker')::bigint & 4294967295)::oid"
        )).scalar_one()  # fmt: skip
    assert ended == 1
    time.sleep(6.5)  # the watch re-takes the lock within 5 s, while the chunk still runs
    with engine.begin() as conn:
        assert conn.execute(text("SELECT bool_and(worker_alive(worker_id)) FROM run_workers")).scalar_one()
        assert conn.execute(text("SELECT sweep_expired_claims()")).scalar_one() == 0  # nothing taken back
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, out + err
    assert_every_step_recorded_once(engine, 16)
    assert max(executions(log).values()) == 1


def test_a_posting_that_kills_its_worker_every_time_is_quarantined_alone(
    engine: Engine, workflows: CommittedWorkflows, turing_env: dict[str, str], tmp_path: Path
) -> None:
    workflows.build(W, [Step("t_a", entry=True), Step("t_b")], [("t_a", "*", "t_b"), ("t_b", "*", None)])
    workflows.set_actor("test_python", "python", {"callable": "sample_actors:poison_pill"})
    ids = add_postings(engine, 30)
    poison = ids[12]
    env = {
        **worker_env(turing_env, tmp_path / "executions.log", sleep=0.01),
        "TURING_TEST_POISON": str(poison),
    }
    crashes = 0
    while True:  # a plain run after each crash, as a user (or a supervisor) would
        worker = start_worker(env, "--chunk-size", "10")
        out, err = worker.communicate(timeout=120)
        if worker.returncode == 3:  # the run finished, with a quarantined posting
            break
        assert worker.returncode == -signal.SIGKILL, out + err
        crashes += 1
        assert crashes < 10, "the poison posting was never quarantined"
    with engine.connect() as conn:
        states = dict(conn.execute(text(
            "SELECT posting_id, status FROM posting_work WHERE workflow_run_id = (SELECT max(workflow_run_id) FROM workflow_runs)"
        )).all())  # fmt: skip
        quarantined = (
            conn.execute(text("SELECT posting_id FROM postings WHERE quarantined_at IS NOT NULL"))
            .scalars()
            .all()
        )
    assert quarantined == [poison]
    assert {posting: status for posting, status in states.items() if posting != poison} == {
        posting: "done" for posting in ids if posting != poison
    }
    assert crashes == 4  # two with its chunk, then two alone (max_reclaims 3); the fifth run is clean
