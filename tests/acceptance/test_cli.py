"""The `turing` command and `make run`, as whole processes against the test database."""

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands import turing
from sqlalchemy import text
from sqlalchemy.engine import Engine

from turing_db.paths import PROJECT_DIR

pytestmark = pytest.mark.slow


def test_load_demo_then_run_fills_every_stage(clean_data: Engine, turing_env: dict[str, str]) -> None:
    loaded = turing(turing_env, "postings", "load-demo", "--count", "30")
    assert loaded.returncode == 0, loaded.stderr
    assert "30 inserted" in loaded.stdout
    again = turing(turing_env, "postings", "load-demo", "--if-empty")
    assert "30 postings already stored" in again.stdout
    ran = turing(turing_env, "run", "--workflow", "3001")
    assert ran.returncode == 0, ran.stderr
    assert "30 postings — 30 completed, 0 failed, 0 quarantined, 0 pending" in ran.stdout
    with clean_data.connect() as conn:
        missing = conn.execute(
            text("SELECT count(*) FROM postings WHERE summary IS NULL OR skills IS NULL OR score IS NULL")
        )
        assert missing.scalar() == 0
    again = turing(turing_env, "run", "--workflow", "3001")
    assert "0 postings — 0 completed" in again.stdout  # nothing left to do: a second run is safe


def test_bad_import_exits_2_with_the_line(
    clean_data: Engine, turing_env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("job_title,job_description\nCook,\n")
    result = turing(turing_env, "postings", "import", str(bad))
    assert result.returncode == 2
    assert "line 2: job_description is missing or empty" in result.stdout
    assert "nothing imported" in result.stdout


def test_unknown_workflow_is_refused_by_validation(turing_env: dict[str, str]) -> None:
    result = turing(turing_env, "run", "--workflow", "999")
    assert result.returncode == 1
    assert "workflow 999 does not exist" in result.stdout


def test_health_reports_every_check_ok(turing_env: dict[str, str]) -> None:
    result = turing(turing_env, "health")
    assert result.returncode == 0, result.stdout + result.stderr
    for check in (
        "database reachable",
        "pg_cron preloaded",
        "migrations at head",
        "refresh-actor-performance",
    ):
        assert check in result.stdout


def test_health_json_is_what_the_endpoint_serves_and_the_run_serves_it_while_it_goes(
    clean_data: Engine, turing_env: dict[str, str], login_envs: dict[str, dict[str, str]]
) -> None:
    """The run is a turing_worker login's (docs/SETUP.md, "Roles"): /health, /metrics and / need no more."""
    import json

    import httpx
    from port_for import get_port

    result = turing(turing_env, "health", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["healthy"] is True
    assert turing(turing_env, "postings", "load-demo", "--count", "200").returncode == 0
    port = get_port(None)
    run = subprocess.Popen(
        [sys.executable, "-m", "turing_db.cli", "run", "--workflow", "3001", "--health-port", str(port)],
        env={**login_envs["worker"], "TURING_LOG_FORMAT": "json"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    seen: list[dict] = []
    scraped: list[str] = []
    deadline = time.monotonic() + 60
    while run.poll() is None and time.monotonic() < deadline:
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        except httpx.TransportError:  # not listening yet, or the run just ended
            time.sleep(0.02)
            continue
        body = response.json()
        if body["run"] is not None:
            seen.append(body)
            assert response.status_code == 200, body
            if len(seen) == 1:  # the same port serves the run's metrics and its live report
                scraped.append(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
                scraped.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text)
    output = run.communicate(timeout=60)[0]
    assert run.returncode == 0, output
    assert "permission denied" not in output
    assert seen, "the endpoint never showed the run while it went"
    running = [body for body in seen if body["run"]["status"] == "running"]
    assert running and running[-1]["run"]["workflow_id"] == 3001
    assert len(running[-1]["workers"]) == 1 and running[-1]["workers"][0]["seconds_since_heartbeat"] >= 0
    assert 'turing_postings{state="waiting"}' in scraped[0] and "turing_database_up 1.0" in scraped[0]
    assert "<title>Run " in scraped[1] and 'http-equiv="refresh"' in scraped[1]


def test_unreachable_database_error_names_it_without_the_password(turing_env: dict[str, str]) -> None:
    env = {**turing_env, "TURING_DATABASE_URL": "postgresql://app:s3cret-xyz@127.0.0.1:1/turing"}
    result = turing(env, "status")
    assert result.returncode == 2
    assert "cannot connect to postgresql+psycopg2://app:***@127.0.0.1:1/turing" in result.stdout
    assert "s3cret-xyz" not in result.stdout + result.stderr


def test_make_run_provisions_an_external_database_and_is_safe_to_repeat(
    clean_data: Engine, turing_env: dict[str, str]
) -> None:
    for attempt in (1, 2):
        result = subprocess.run(
            ["make", "--no-print-directory", "run", "WORKFLOW=3001", f"PYTHON={sys.executable}"],
            cwd=PROJECT_DIR,
            env={**turing_env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "an external database is configured" in result.stdout
        assert "is up to date" in result.stdout
        if attempt == 1:
            assert "2000 inserted" in result.stdout
            assert "2000 postings — 2000 completed, 0 failed, 0 quarantined, 0 pending" in result.stdout
        else:
            assert "2000 postings already stored" in result.stdout
            assert "0 postings — 0 completed" in result.stdout


@pytest.fixture
def broken_workflow(engine: Engine) -> Iterator[int]:
    """Workflow 6001: a single step that no entry point reaches and no branch leaves (committed)."""
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO workflows (workflow_id, workflow_name) VALUES (6001, 'broken');
            INSERT INTO conversations (conversation_name, canonical_name, actor_id)
            SELECT 'Lost', 'lost_step', actor_id FROM actors WHERE actor_name = 'stage_saver';
            INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order)
            SELECT 6001, conversation_id, 1 FROM conversations WHERE canonical_name = 'lost_step';
        """))  # fmt: skip
    yield 6001
    with engine.begin() as conn:
        conn.execute(text("""
            DELETE FROM workflows WHERE workflow_id = 6001;
            DELETE FROM conversations WHERE canonical_name = 'lost_step';
        """))  # fmt: skip


def test_validate_exits_0_for_a_valid_workflow(turing_env: dict[str, str]) -> None:
    result = turing(turing_env, "validate", "--workflow", "3001")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "workflow 3001 is valid: 0 error(s)" in result.stdout


def test_validate_exits_1_and_lists_the_findings(turing_env: dict[str, str], broken_workflow: int) -> None:
    result = turing(turing_env, "validate", "--workflow", str(broken_workflow), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    checks = {(finding["check_name"], finding["conversation"]) for finding in report["findings"]}
    assert {
        ("entry_point_missing", None),
        ("instruction_missing", "lost_step"),
        ("dead_end", "lost_step"),
    } <= checks


def test_run_refuses_an_invalid_workflow_before_touching_postings(
    clean_data: Engine, turing_env: dict[str, str], broken_workflow: int
) -> None:
    turing(turing_env, "postings", "load-demo", "--count", "5")
    result = turing(turing_env, "run", "--workflow", str(broken_workflow))
    assert result.returncode == 1
    assert "entry_point_missing" in result.stdout and "no posting was touched" in result.stdout
    with clean_data.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM workflow_runs")).scalar() == 0


def test_psql_passes_its_arguments_to_psql(turing_env: dict[str, str], tmp_path: Path) -> None:
    result = turing(turing_env, "psql", "-X", "-A", "-t", "-c", "SELECT validate_workflow(3001)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('(ok,valid,,"workflow 3001 (')
    script = tmp_path / "count.sql"
    script.write_text("SELECT count(*) FROM workflow_conversations WHERE workflow_id = 3001;\n")
    counted = turing(turing_env, "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", str(script))
    assert (counted.returncode, counted.stdout.strip()) == (0, "7")
    failed = turing(turing_env, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-c", "SELECT no_such_function()")
    assert failed.returncode != 0 and "no_such_function" in failed.stderr  # psql's own exit status
