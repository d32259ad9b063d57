"""Settings: URL versus parts, the embedded default, and a password that never shows."""

import logging
from pathlib import Path

import pytest

from turing_db.logs import configure_logging, get_logger
from turing_db.settings import ConfigurationError, Secret, load_settings

PASSWORD = "s3cret-Pa55-word"
NO_ENV_FILE = Path("/nonexistent/.env")


def settings(**env: str):
    return load_settings(environ=env, env_file=NO_ENV_FILE)


def test_url_is_used_as_given() -> None:
    result = settings(TURING_DATABASE_URL=f"postgresql://app:{PASSWORD}@db.example.com:6543/jobs")
    assert not result.embedded
    assert (result.url.host, result.url.port, result.url.database, result.url.username) == (
        "db.example.com", 6543, "jobs", "app")  # fmt: skip
    assert result.url.drivername == "postgresql+psycopg2"
    assert result.url.password == PASSWORD


def test_parts_build_the_url() -> None:
    result = settings(TURING_DB_HOST="db.example.com", TURING_DB_PORT="6000", TURING_DB_NAME="jobs",
                      TURING_DB_USER="app", TURING_DB_PASSWORD=PASSWORD)  # fmt: skip
    assert (result.url.host, result.url.port, result.url.database, result.url.username) == (
        "db.example.com", 6000, "jobs", "app")  # fmt: skip
    assert result.password == Secret(PASSWORD)


def test_nothing_set_means_the_embedded_cluster() -> None:
    result = settings()
    assert result.embedded
    assert result.url.query["host"].endswith("run")
    assert result.url.database == "turing"


def test_external_host_without_password_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="TURING_DB_PASSWORD"):
        settings(TURING_DB_HOST="db.example.com")
    with pytest.raises(ConfigurationError, match="no password"):
        settings(TURING_DATABASE_URL="postgresql://app@db.example.com/jobs")


def test_parts_without_host_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="TURING_DB_HOST is not set"):
        settings(TURING_DB_NAME="jobs")


def test_bad_port_and_pool_size_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="TURING_DB_PORT"):
        settings(TURING_DB_HOST="h", TURING_DB_PASSWORD="x", TURING_DB_PORT="fivefour")
    with pytest.raises(ConfigurationError, match="TURING_DB_POOL_SIZE must be positive"):
        settings(TURING_DB_POOL_SIZE="0")


def test_pool_is_at_most_ten_by_default() -> None:
    assert settings().pool_size == 10


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"TURING_DB_HOST=from-file.example.com\nTURING_DB_PASSWORD={PASSWORD}\n")
    from_file = load_settings(environ={}, env_file=env_file)
    assert from_file.url.host == "from-file.example.com"
    overridden = load_settings(environ={"TURING_DB_HOST": "from-env.example.com"}, env_file=env_file)
    assert overridden.url.host == "from-env.example.com"


def test_password_is_not_in_repr_str_or_safe_url() -> None:
    result = settings(TURING_DATABASE_URL=f"postgresql://app:{PASSWORD}@db.example.com/jobs")
    for shown in (repr(result), str(result), result.safe_url, repr(result.password), str(result.password)):
        assert PASSWORD not in shown


def test_invalid_url_error_does_not_echo_the_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        settings(TURING_DATABASE_URL=f"postgresql://app:{PASSWORD}@db.example.com:notaport/jobs")
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None or PASSWORD not in repr(
        caught.value.__context__)  # fmt: skip


def test_non_postgres_url_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        settings(TURING_DATABASE_URL="mysql://app:x@db.example.com/jobs")


def test_logged_settings_do_not_contain_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json_lines=True)
    result = settings(TURING_DATABASE_URL=f"postgresql://app:{PASSWORD}@db.example.com/jobs")
    get_logger("test").info("connecting", settings=result, url=result.safe_url)
    logging.getLogger("test").info("%r", result)
    captured = capsys.readouterr()
    assert "connecting" in captured.err
    assert PASSWORD not in captured.err + captured.out


def test_a_secret_logged_by_mistake_is_masked_in_the_line_and_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "canary-log-key-91c2"
    monkeypatch.setenv("TURING_TEST_API_KEY", canary)
    for json_lines in (True, False):
        configure_logging("DEBUG", json_lines=json_lines)
        try:
            raise RuntimeError(f"upstream said: bad key {canary}")
        except RuntimeError:
            get_logger("test").exception("call failed", header=f"Bearer {canary}")
    err = capsys.readouterr().err
    assert err.count("call failed") == 2 and "Bearer ***" in err and "bad key ***" in err
    assert canary not in err


def test_an_api_key_in_a_plainly_named_variable_is_masked_once_an_actor_uses_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from turing_db.actors import ActorSpec, build_actor
    from turing_db.redaction import redact

    canary = "canary-plain-name-4d1b"
    monkeypatch.setenv("LLM_CREDENTIAL", canary)  # no KEY, TOKEN, SECRET or PASSWORD in the name
    configure_logging("INFO", json_lines=True)
    assert redact(f"x {canary}") == f"x {canary}"  # not known as a secret yet
    build_actor(
        ActorSpec(
            "a",
            "openai",
            {"model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "LLM_CREDENTIAL"},
        )
    )
    get_logger("test").warning("leaked", value=canary)
    assert redact(f"x {canary}") == "x ***" and canary not in capsys.readouterr().err
