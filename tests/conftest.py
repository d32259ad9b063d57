"""The test database: one PostgreSQL server with pg_cron, started by pytest-postgresql for the session.

pg_cron can live in one database only (cron.database_name), and dropping that database stops its
scheduler, so the session keeps one database, `turing_test`, migrated to head once. Tests that change
definitions run inside a transaction that is rolled back (`conn`); tests that commit postings or runs
use `engine` and are cleaned up by `clean_data`. When pytest runs as root, pg_ctl runs as `postgres`
through a wrapper script (PostgreSQL refuses root) in a directory that `postgres` owns.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from port_for import get_port
from pytest_postgresql.executors import PostgreSQLExecutor
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, Engine
from workflows import CommittedWorkflows

from turing_db.pool import dispose_engine
from turing_db.provisioning import cluster, migrations

TEST_DATABASE = "turing_test"
SERVER_OPTIONS = (
    "-c shared_preload_libraries=pg_cron "
    f"-c cron.database_name={TEST_DATABASE} "
    "-c cron.use_background_workers=on "
    "-c max_worker_processes=20 "
    "-c timezone=UTC "
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
)
DATA_TABLES = (
    "actor_calls",
    "conversation_outputs",
    "posting_state_checkpoints",
    "workflow_runs",
    "postings",
    "alerts",
)


def _server_dir() -> Path:
    """A temp directory the server user owns (pytest's own temp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="turing-test-pg-"))
    path.chmod(0o755)
    if cluster.running_as_root():
        shutil.chown(path, "postgres", "postgres")
    return path


def _pg_ctl_wrapper(directory: Path) -> Path:
    """pytest-postgresql calls one pg_ctl executable; as root it must run as `postgres`."""
    pg_ctl = cluster.postgres_bindir() / "pg_ctl"
    wrapper = directory / "pg_ctl"
    prefix = "runuser -u postgres -- " if cluster.running_as_root() else ""
    wrapper.write_text(f'#!/bin/sh\nexec {prefix}"{pg_ctl}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return wrapper


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgreSQLExecutor]:
    cluster.ensure_pg_cron(cluster.postgres_bindir())
    cluster.ensure_extension(cluster.postgres_bindir(), "plpgsql_check", "plpgsql-check")  # static checks
    directory = _server_dir()
    port = get_port(None)
    assert port is not None
    executor = PostgreSQLExecutor(
        executable=str(_pg_ctl_wrapper(directory)),
        host="127.0.0.1",
        port=port,
        datadir=str(directory / "data"),
        unixsocketdir=str(directory),
        logfile=str(directory / "postgresql.log"),
        startparams="-w",
        dbname=TEST_DATABASE,
        user="postgres",
        postgres_options=SERVER_OPTIONS,
    )
    with executor:
        yield executor
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def server_url(pg_server: PostgreSQLExecutor) -> URL:
    """The maintenance database of the test server."""
    return URL.create("postgresql+psycopg2", username="postgres", host="127.0.0.1", port=pg_server.port,
                      database="postgres")  # fmt: skip


@pytest.fixture(scope="session")
def database_url(server_url: URL) -> URL:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{TEST_DATABASE}"'))
    admin.dispose()
    return server_url.set(database=TEST_DATABASE)


@pytest.fixture(scope="session")
def engine(database_url: URL) -> Iterator[Engine]:
    """The session database, migrated to head."""
    engine = create_engine(database_url, pool_size=5, max_overflow=0, pool_pre_ping=True)
    migrations.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back: change definitions freely."""
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def clean_data(engine: Engine) -> Iterator[Engine]:
    """The session engine; postings, runs and logs written by the test are removed afterwards."""
    yield engine
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def turing_env(
    database_url: URL, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Environment for `turing` subprocesses and settings: the test database, nothing else."""
    for name in list(os.environ):
        if name.startswith("TURING_"):
            monkeypatch.delenv(name)
    url = database_url.render_as_string(hide_password=False)
    monkeypatch.setenv("TURING_DATABASE_URL", url)
    dispose_engine()
    yield {**os.environ, "TURING_DATABASE_URL": url}
    dispose_engine()


@pytest.fixture
def fresh_gates(engine: Engine) -> Iterator[None]:
    """Afterwards, every actor gate, permit, breaker event and cached answer is gone, test_python has no
    cap and the second actor of the fallback tests no row (`pytest.mark.usefixtures("fresh_gates")`)."""
    yield
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE actor_gates, actor_permits, circuit_breaker_events, response_cache"))
        conn.execute(text("UPDATE actors SET max_concurrency = NULL WHERE actor_name = 'test_python'"))
        conn.execute(text("DELETE FROM actors WHERE actor_name = 'test_fallback'"))


@pytest.fixture
def workflows(engine: Engine) -> Iterator[CommittedWorkflows]:
    """Build committed test workflows; they, their runs and all postings are removed afterwards."""
    built = CommittedWorkflows(engine)
    yield built
    built.cleanup()


LOGINS = {
    "worker": ("turing_test_worker", "turing_worker"),
    "reader": ("turing_test_reader", "turing_reader"),
}


@pytest.fixture(scope="session")
def logins(engine: Engine, database_url: URL) -> Iterator[dict[str, Engine]]:
    """A login user in each group role, made as docs/SETUP.md shows, and an engine for each."""
    with engine.begin() as conn:
        for user, group in LOGINS.values():
            if (
                conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :user"), {"user": user}).first()
                is None
            ):
                conn.execute(text(f"CREATE ROLE {user} LOGIN PASSWORD 'not-a-secret' IN ROLE {group}"))
    engines = {
        purpose: create_engine(database_url.set(username=user, password="not-a-secret"), pool_size=2)
        for purpose, (user, _) in LOGINS.items()
    }
    yield engines
    for login in engines.values():
        login.dispose()
    with engine.begin() as conn:  # no login with a known password outlives the session
        for user, _ in LOGINS.values():
            conn.execute(text(f"DROP ROLE IF EXISTS {user}"))


@pytest.fixture
def login_envs(turing_env: dict[str, str], logins: dict[str, Engine]) -> dict[str, dict[str, str]]:
    """`turing_env` for each login: TURING_DATABASE_URL names the worker or the reader."""
    return {purpose: {**turing_env, "TURING_DATABASE_URL": login.url.render_as_string(hide_password=False)}
            for purpose, login in logins.items()}  # fmt: skip


@pytest.fixture(autouse=True)
def fresh_logging() -> Iterator[None]:
    """A test that configures logging binds it to that test's captured stderr: undo it afterwards."""
    yield
    structlog.reset_defaults()
