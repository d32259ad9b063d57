"""Workflow 3001 end to end on a real language model: SmolLM2-135M on llama.cpp's server, started by
`turing llm start`, reached through ordinary openai actors (`turing llm use local`)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from commands import turing
from sqlalchemy import text
from sqlalchemy.engine import Engine

pytestmark = pytest.mark.slow
POSTINGS = 20


@pytest.fixture
def local_model(turing_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """A server of this test's own (its state in tmp_path), 3001 pointed at it; afterwards back and stopped."""
    env = {**turing_env, "TURING_LLM_DIR": str(tmp_path / "llm")}
    started = turing(env, "llm", "start")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        used = turing(env, "llm", "use", "local")
        assert used.returncode == 0 and "grade_summary → local_grader" in used.stdout, (
            used.stdout + used.stderr
        )
        yield env
    finally:
        assert turing(env, "llm", "use", "offline").returncode == 0
        stopped = turing(env, "llm", "stop")
        assert "stopped the local model server" in stopped.stdout, stopped.stdout


def test_workflow_3001_runs_on_the_local_model(clean_data: Engine, local_model: dict[str, str]) -> None:
    assert turing(local_model, "llm", "status").returncode == 0
    assert turing(local_model, "postings", "load-demo", "--count", str(POSTINGS)).returncode == 0
    ran = turing(local_model, "run", "--workflow", "3001", timeout=900)
    assert ran.returncode in (0, 3), ran.stdout + ran.stderr  # 3: some postings failed, each with its reason
    with clean_data.connect() as conn:
        progress = conn.execute(
            text("SELECT * FROM run_progress((SELECT max(workflow_run_id) FROM workflow_runs))")
        ).one()
        unexplained = conn.execute(
            text("SELECT count(*) FROM postings WHERE failed_runs > 0 AND failure_reason IS NULL")
        ).scalar()
        calls = conn.execute(text(
            "SELECT actor.actor_name, count(*), sum(call.prompt_tokens), sum(call.completion_tokens) "
            "FROM actor_calls AS call JOIN actors AS actor USING (actor_id) WHERE actor.actor_name LIKE 'local\\_%' "
            "GROUP BY 1 ORDER BY 1")).all()  # fmt: skip
    assert (progress.done + progress.failed, progress.waiting, progress.claimed) == (POSTINGS, 0, 0), progress
    assert progress.done >= POSTINGS // 2, progress  # the model does the work; its weak answers fail some
    assert unexplained == 0  # a posting that failed went through the error handler, with its reason
    assert [name for name, *_ in calls] == ["local_grader", "local_scorer", "local_summarizer"]
    assert all(count >= 1 and prompt > 0 and completion > 0 for _, count, prompt, completion in calls), calls
