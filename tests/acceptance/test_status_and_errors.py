"""`turing status --run` and `turing errors` on a finished run with failures, as whole processes."""

from __future__ import annotations

import json

import pytest
from commands import turing
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

from turing_db import database
from turing_db.runner import WaveBatchProcessor

pytestmark = pytest.mark.slow
W = 7801


@pytest.fixture
def failed_run(clean_data: Engine, workflows: CommittedWorkflows) -> int:
    """Workflow W: 6 postings; the first step echoes, the second breaks for every posting."""
    with clean_data.begin() as conn:
        conn.execute(text("INSERT INTO actors (actor_name, actor_type, config) VALUES ('test_failing', 'python', "
                          "'{\"callable\": \"sample_actors:fail\"}') ON CONFLICT (actor_name) DO NOTHING"))  # fmt: skip
    workflows.build(
        W,
        [Step("s_echo", entry=True), Step("s_break", actor="test_failing")],
        [("s_echo", "*", "s_break"), ("s_break", "*", None)],
    )
    add_postings(clean_data, 6)
    return WaveBatchProcessor(W, engine=clean_data).run().workflow_run_id


def test_status_of_a_run_shows_its_conversations_workers_and_errors(
    failed_run: int, turing_env: dict[str, str]
) -> None:
    shown = turing(turing_env, "status", "--run", str(failed_run), "--json")
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["run"]["status"] == "completed" and status["progress"]["failed"] == 6
    assert status["throughput"]["steps"] == 18  # echo, break, and the error handler that ends them
    assert [(c["conversation"], c["completed"], c["errors"]) for c in status["conversations"]][:2] == [
        ("s_echo", 6, 0), ("s_break", 6, 6)
    ]  # fmt: skip
    assert len(status["workers"]) == 1 and status["workers"][0]["stopped_at"] is not None
    assert [(e["actor_name"], e["error_kind"], e["errors"]) for e in status["errors"]] == [
        ("test_failing", "RuntimeError", 6)
    ]
    table = turing(turing_env, "status", "--run", str(failed_run))
    assert table.returncode == 0 and "s_break" in table.stdout and "6 × RuntimeError" in table.stdout
    missing = turing(turing_env, "status", "--run", "999999")
    assert missing.returncode == 2 and "there is no run 999999" in missing.stdout


def test_errors_groups_by_actor_conversation_and_kind_with_examples_and_the_message(
    failed_run: int, turing_env: dict[str, str]
) -> None:
    listed = turing(turing_env, "errors", "--since", "1h", "--json")
    assert listed.returncode == 0, listed.stderr
    (group,) = json.loads(listed.stdout)["errors"]
    assert (group["actor_name"], group["conversation"], group["error_kind"], group["errors"]) == (
        "test_failing", "s_break", "RuntimeError", 6
    )  # fmt: skip
    assert len(group["example_postings"]) == 3 and "the actor broke" in group["example_message"]
    table = turing(turing_env, "errors", "--run", str(failed_run))
    assert table.returncode == 0 and "RuntimeError" in table.stdout and "the actor broke" in table.stdout
    assert "no errors" in turing(turing_env, "errors", "--run", str(failed_run + 1)).stdout
    bad = turing(turing_env, "errors", "--since", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_status_and_errors_of_a_run_in_progress(
    clean_data: Engine, workflows: CommittedWorkflows, turing_env: dict[str, str]
) -> None:
    import threading
    import time

    with clean_data.begin() as conn:
        conn.execute(text("INSERT INTO actors (actor_name, actor_type, config, max_concurrency) VALUES "
                          "('test_napping', 'python', '{\"callable\": \"sample_actors:nap\"}', 1) "
                          "ON CONFLICT (actor_name) DO NOTHING"))  # fmt: skip
    workflows.build(W + 1, [Step("s_nap", entry=True, actor="test_napping")], [("s_nap", "*", None)])
    add_postings(clean_data, 300)  # 10 ms each, one at a time: about 3 s
    processor = WaveBatchProcessor(W + 1, engine=clean_data, chunk_size=20)
    running = threading.Thread(target=processor.run)
    running.start()
    try:
        deadline = time.monotonic() + 10
        while processor.run_id is None and time.monotonic() < deadline:
            time.sleep(0.02)
        while database.run_progress(clean_data, processor.run_id).done == 0 and time.monotonic() < deadline:
            time.sleep(0.02)  # the first results are stored (within TURING_FLUSH_MS)
        shown = turing(turing_env, "status", "--run", str(processor.run_id), "--json")
        status = json.loads(shown.stdout)
        assert status["run"]["status"] == "running" and status["run"]["finished_at"] is None
        assert 0 < status["progress"]["waiting"] + status["progress"]["claimed"] < 300
        assert [w["stopped_at"] for w in status["workers"]] == [None]
        assert turing(turing_env, "errors", "--run", str(processor.run_id), "--json").returncode == 0
    finally:
        processor.stop(abandon=True)
        running.join(timeout=30)
