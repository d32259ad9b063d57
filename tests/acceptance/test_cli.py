"""The `turing` command and `make run`, as whole processes against the test database."""

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from turing_db.settings import PROJECT_DIR

pytestmark = pytest.mark.slow


def turing(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turing_db.cli", *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_load_demo_then_plan_a_run(clean_data: Engine, turing_env: dict[str, str]) -> None:
    loaded = turing(turing_env, "postings", "load-demo", "--count", "30")
    assert loaded.returncode == 0, loaded.stderr
    assert "30 inserted" in loaded.stdout
    again = turing(turing_env, "postings", "load-demo", "--if-empty")
    assert "30 postings already stored" in again.stdout
    planned = turing(turing_env, "run", "--workflow", "3001")
    assert planned.returncode == 0, planned.stderr
    assert "extract_summary" in planned.stdout and "30" in planned.stdout
    assert "nothing was executed" in planned.stdout


def test_bad_import_exits_2_with_the_line(
    clean_data: Engine, turing_env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("job_title,job_description\nCook,\n")
    result = turing(turing_env, "postings", "import", str(bad))
    assert result.returncode == 2
    assert "line 2: job_description is missing or empty" in result.stdout
    assert "nothing imported" in result.stdout


def test_unknown_workflow_is_a_clear_error(turing_env: dict[str, str]) -> None:
    result = turing(turing_env, "run", "--workflow", "999")
    assert result.returncode == 2
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
        else:
            assert "2000 postings already stored" in result.stdout
        assert "2000 posting(s) pending for workflow 3001" in result.stdout
