"""`turing psql` hands the password to psql through the environment, never on its command line."""

from pathlib import Path

from turing_db.cli import psql_invocation
from turing_db.settings import load_settings

PASSWORD = "s3cret-Pa55-word"


def test_password_goes_to_the_environment_not_argv() -> None:
    settings = load_settings(
        environ={"TURING_DATABASE_URL": f"postgresql://app:{PASSWORD}@db.example.com:6543/jobs"},
        env_file=Path("/nonexistent/.env"),
    )
    argv, env = psql_invocation(settings)
    assert not any(PASSWORD in arg for arg in argv)
    assert env["PGPASSWORD"] == PASSWORD
    assert argv[:1] == ["psql"] and "db.example.com" in argv and "6543" in argv and "jobs" in argv
