"""Least privilege: a turing_worker login can only process postings through the functions, a
turing_reader login can only read; both as whole `turing` commands and statement by statement."""

from collections.abc import Iterator

import pytest
from commands import turing
from migrating import migrate_in
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from turing_db import alerts, database, health, metrics
from turing_db.provisioning import migrations

pytestmark = pytest.mark.slow

LOGINS = {
    "worker": ("turing_test_worker", "turing_worker"),
    "reader": ("turing_test_reader", "turing_reader"),
}
INSUFFICIENT_PRIVILEGE = "42501"
NOT_UPDATABLE = "55000"  # a view that no rule makes writable refuses a write before privileges count

# every function the worker may call (apply_role_grants() is the list; this is what the runner needs)
WORKER_FUNCTIONS = {
    "start_run(integer,text,boolean,bigint,integer,boolean)", "claim_chunk_v2(bigint,text,integer,integer)",
    "claim_chunk(bigint,text,integer)", "complete_chunk(bigint,text,jsonb)", "heartbeat(bigint,text,uuid[])",
    "release_claims(bigint,text,uuid[])", "stop_worker(bigint,text)", "worker_state(bigint,text)",
    "worker_lock(text)", "actor_admit(integer,text,integer,text,jsonb)", "actor_settle(uuid,integer,text,integer,jsonb,text)",
    "actor_settle_and_admit(uuid,integer,integer,text,integer,text,jsonb)", "refresh_performance_views()",
    "raise_alert(text,jsonb)", "take_alerts(text,integer)", "record_alert_delivery(bigint,jsonb)",
    "run_report(bigint)", "validate_workflow(integer)", "run_progress(bigint)", "run_summary(bigint)",
    "posting_counts()", "cron_status()", "clear_response_cache(text,boolean)", "cached_answers(integer,text[],jsonb)",
    "response_cache_status()",
}  # fmt: skip
READER_FUNCTIONS = {
    "run_status(bigint)", "recent_errors(interval,bigint)", "workflow_fixes(integer)", "run_report(bigint)", "validate_workflow(integer)",
    "run_progress(bigint)", "run_summary(bigint)", "posting_counts()", "cron_status()", "response_cache_status()",
}  # fmt: skip


def refused(login: Engine, statement: str) -> str | None:
    """The SQLSTATE the statement fails with (None when it succeeds); always rolled back."""
    with login.connect() as conn:
        try:
            conn.execute(text(statement))
        except DBAPIError as error:
            return getattr(error.orig, "pgcode", None)
        finally:
            conn.rollback()
    return None


def public_relations(engine: Engine) -> list[tuple[str, str, str]]:
    """(name, kind, a column) of every table, view and materialized view in schema public."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(  # type: ignore[misc]
            "SELECT quote_ident(c.relname), c.relkind, (SELECT quote_ident(a.attname) FROM pg_attribute a "
            "WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity = '' "
            "AND a.attgenerated = '' ORDER BY a.attnum LIMIT 1) "
            "FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') "
            "ORDER BY c.relname"))]  # fmt: skip


def writes(name: str, kind: str, column: str) -> list[str]:
    """Each way to change the relation directly (names from the catalogue, quoted there)."""
    if kind == "m":
        return [f"REFRESH MATERIALIZED VIEW public.{name}"]
    inserts, deletes = f"INSERT INTO public.{name} DEFAULT VALUES", f"DELETE FROM public.{name}"  # noqa: S608
    if kind == "v":
        return [inserts, deletes]
    return [inserts, f"UPDATE public.{name} SET {column} = {column}", deletes, f"TRUNCATE public.{name}"]  # noqa: S608


CREATES = [
    "CREATE TABLE public.intruder (x int)",
    "CREATE TEMPORARY TABLE intruder (x int)",
    "CREATE FUNCTION public.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE VIEW public.intruder AS SELECT 1",
    "CREATE SCHEMA intruder",
]


@pytest.mark.parametrize("purpose", ["worker", "reader"])
def test_every_direct_write_and_create_is_refused(
    engine: Engine, logins: dict[str, Engine], purpose: str
) -> None:
    login = logins[purpose]
    relations = public_relations(engine)
    statements = [s for name, kind, column in relations for s in writes(name, kind, column)]
    view_writes = {s for name, kind, column in relations if kind == "v" for s in writes(name, kind, column)}
    assert len(statements) > 60  # every table, view and materialized view
    allowed = {statement: refused(login, statement) for statement in statements + CREATES}
    assert {s: code for s, code in allowed.items() if code != INSUFFICIENT_PRIVILEGE and not (
        s in view_writes and code == NOT_UPDATABLE)} == {}  # fmt: skip


def executable_functions(engine: Engine, role: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
            "AND has_function_privilege(:role, p.oid, 'EXECUTE')"), {"role": role}).scalars())  # fmt: skip


def test_each_role_executes_exactly_its_functions_and_public_none(engine: Engine) -> None:
    assert executable_functions(engine, "turing_worker") == WORKER_FUNCTIONS
    assert executable_functions(engine, "turing_reader") == READER_FUNCTIONS
    assert executable_functions(engine, "public") == set()  # not even a helper


def test_the_functions_they_call_are_security_definer_with_a_pinned_search_path(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT p.oid::regprocedure::text, p.prosecdef, array_to_string(p.proconfig, ';') "
            "FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace")).all()  # fmt: skip
    for signature, definer, config in rows:
        if signature in WORKER_FUNCTIONS | READER_FUNCTIONS:
            assert definer, signature
        if definer:  # a definer with a caller's search_path would run the caller's objects as its owner
            assert "search_path=pg_catalog, public, pg_temp" in config.split(";"), signature


def test_a_function_nobody_was_granted_is_refused(logins: dict[str, Engine]) -> None:
    for purpose, login in logins.items():
        assert refused(login, "SELECT insert_postings('[]'::jsonb)") == INSUFFICIENT_PRIVILEGE, purpose
        assert refused(login, "SELECT retry_postings(NULL, NULL)") == INSUFFICIENT_PRIVILEGE, purpose
        assert refused(login, "SELECT apply_role_grants()") == INSUFFICIENT_PRIVILEGE, purpose
        assert refused(login, "SELECT count(*) FROM postings") == INSUFFICIENT_PRIVILEGE, purpose
    assert refused(logins["reader"], "SELECT heartbeat(1, 'w', '{}')") == INSUFFICIENT_PRIVILEGE


def test_a_worker_login_runs_workflow_3001_with_its_health_metrics_and_alerts(
    clean_data: Engine,
    turing_env: dict[str, str],
    logins: dict[str, Engine],
    login_envs: dict[str, dict[str, str]],
) -> None:
    assert turing(turing_env, "postings", "load-demo", "--count", "300").returncode == 0  # the owner loads
    ran = turing(login_envs["worker"], "run", "--workflow", "3001")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "300 completed, 0 failed" in ran.stdout
    assert "denied" not in ran.stdout + ran.stderr
    assert database.posting_counts(clean_data)["complete"] == 300

    login = logins["worker"]  # what the run's /health, /metrics and alerts read and write
    run_id = database.latest_runs(clean_data, 1)[0].workflow_run_id
    document = health.document(login, migrations.head_revision(), health.Watched(run_id, ()))
    assert document["healthy"], document
    assert metrics.database_snapshot(login, run_id)["postings"]["done"] == 300
    alerts.raise_alert(login, "run_failed", {"workflow_run_id": run_id, "error": "a test"})
    dispatcher = alerts.AlertDispatcher(login, "worker-under-test", alerts.Channels(command="cat >/dev/null"))
    assert dispatcher.deliver_waiting() == 1
    with clean_data.connect() as conn:
        delivery = conn.execute(text("SELECT delivery FROM alerts ORDER BY alert_id DESC LIMIT 1")).scalar()
    assert delivery == {"command": "ok"}


def test_a_reader_login_reads_status_errors_reports_and_validation_and_cannot_run(
    clean_data: Engine, turing_env: dict[str, str], login_envs: dict[str, dict[str, str]], tmp_path
) -> None:
    assert turing(turing_env, "postings", "load-demo", "--count", "20").returncode == 0
    assert turing(turing_env, "run", "--workflow", "3001").returncode == 0
    reader_env = login_envs["reader"]
    for args in (["status"], ["status", "--run", "1", "--json"], ["errors"], ["validate", "--workflow", "3001"],
                 ["health"], ["actors"], ["report", "--out", str(tmp_path / "r.html")]):  # fmt: skip
        result = turing(reader_env, *args)
        assert result.returncode == 0, (args, result.stdout + result.stderr)
    assert (tmp_path / "r.html").stat().st_size > 10_000
    for args in (
        ["run", "--workflow", "3001"],
        ["postings", "retry", "--all"],
        ["prune", "--older-than", "1d"],
    ):
        result = turing(reader_env, *args)
        assert result.returncode == 2, (args, result.stdout + result.stderr)
        assert "refused: permission denied for function" in result.stdout, result.stdout
        assert "may not do this" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_role_names_come_from_x_arguments_and_the_environment(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate_in(conn, "0013")  # `conn` is rolled back: roles and grants are transactional
    monkeypatch.setenv("TURING_READER_ROLE", "turing_test_env_reader")
    migrate_in(conn, "head", ["worker_role=turing_test_x_worker"])
    roles = dict(conn.execute(text("SELECT purpose, role_name FROM database_roles")).all())
    assert roles == {"worker": "turing_test_x_worker", "reader": "turing_test_env_reader"}
    granted = conn.execute(text(
        "SELECT has_function_privilege('turing_test_x_worker', 'claim_chunk_v2(bigint,text,integer,integer)', "
        "'EXECUTE'), has_function_privilege('turing_test_env_reader', 'run_status(bigint)', 'EXECUTE')")).one()  # fmt: skip
    assert tuple(granted) == (True, True)


def test_a_bad_role_name_is_refused_before_anything_changes(conn: Connection) -> None:
    migrate_in(conn, "0013")
    with pytest.raises(ValueError, match="must be a lower-case SQL identifier"):
        migrate_in(conn, "head", ["worker_role=x; DROP TABLE postings"])


def role_exists(conn: Connection, name: str) -> bool:
    return conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first() is not None


@pytest.fixture
def other_database(server_url: URL) -> Iterator[str]:
    """A second database of the cluster, dropped afterwards."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS turing_other"))
        conn.execute(text("CREATE DATABASE turing_other"))
    yield "turing_other"
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE turing_other"))
    admin.dispose()


def test_downgrade_revokes_the_grants_and_drops_only_the_roles_it_made_and_nothing_uses(
    other_database: str, conn: Connection
) -> None:  # other_database first: it is dropped after `conn`'s transaction, which locks it, ends
    migrate_in(conn, "0013")
    conn.execute(text("CREATE ROLE turing_test_made_by_hand NOLOGIN"))  # as a superuser would
    migrate_in(conn, "head", ["worker_role=turing_test_shared", "reader_role=turing_test_made_by_hand"])
    conn.execute(text(f"GRANT CONNECT ON DATABASE {other_database} TO turing_test_shared"))  # elsewhere
    migrate_in(conn, "head", ["worker_role=ignored"])  # already at head: nothing changes
    assert role_exists(conn, "turing_test_shared") and not role_exists(conn, "ignored")
    migrate_in(conn, "0013")
    assert role_exists(conn, "turing_test_shared")  # turing_other still grants it CONNECT
    assert role_exists(conn, "turing_test_made_by_hand")  # not the migration's to drop
    left = conn.execute(text(
        "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
        "AND (p.prosecdef OR NOT has_function_privilege('public', p.oid, 'EXECUTE'))")).scalar()  # fmt: skip
    assert left == 0  # every function as it was before 0014
    conn.execute(text(f"REVOKE CONNECT ON DATABASE {other_database} FROM turing_test_shared"))
    migrate_in(conn, "head", ["worker_role=turing_test_alone", "reader_role=turing_test_alone_too"])
    migrate_in(conn, "0013")
    assert not role_exists(conn, "turing_test_alone")  # made by it, used by nothing


def test_a_role_with_more_than_a_group_role_needs_is_refused(conn: Connection) -> None:
    migrate_in(conn, "0013")
    conn.execute(text("CREATE ROLE turing_test_mighty NOLOGIN CREATEDB"))
    with pytest.raises(ValueError, match="may create roles or databases"):
        migrate_in(conn, "head", ["worker_role=turing_test_mighty"])


def test_a_role_with_a_pg_name_is_refused(conn: Connection) -> None:
    migrate_in(conn, "0013")
    with pytest.raises(ValueError, match="names beginning pg_ are PostgreSQL's own"):
        migrate_in(conn, "head", ["reader_role=pg_read_all_data"])


def test_complete_chunk_refuses_a_temporary_table_its_owner_did_not_make(conn: Connection) -> None:
    """It runs as its owner: a caller's own pg_temp.turing_completion (with a trigger of the caller's)
    would run with the owner's rights. A worker may not create temporary tables at all; this is the
    second lock."""
    conn.execute(text("DROP TABLE IF EXISTS pg_temp.turing_completion"))  # a pooled session's own, if any
    conn.execute(text("CREATE ROLE turing_test_temp_maker NOLOGIN"))
    conn.execute(text("GRANT TEMPORARY ON DATABASE turing_test TO turing_test_temp_maker"))
    conn.execute(text("SET LOCAL ROLE turing_test_temp_maker"))
    conn.execute(text("CREATE TEMPORARY TABLE turing_completion (posting_id bigint)"))
    conn.execute(text("RESET ROLE"))
    with pytest.raises(DBAPIError, match="was not made by complete_chunk"):
        conn.execute(text("SELECT * FROM complete_chunk(1, 'w', '[]')"))


def test_a_session_setting_cannot_lift_a_quarantine(conn: Connection) -> None:
    conn.execute(text("SET LOCAL turing.max_failed_runs = 1000"))
    assert conn.execute(text("SELECT max_failed_runs()")).scalar() == 3  # the caller's SET counts for nothing
    conn.execute(text("ALTER DATABASE turing_test SET turing.max_failed_runs = 5"))
    assert conn.execute(text("SELECT max_failed_runs()")).scalar() == 5  # the database's setting does


def test_a_worker_cannot_flood_the_alert_channels(logins: dict[str, Engine]) -> None:
    assert refused(logins["worker"], "SELECT raise_alert('run_failed', '{}')") is None
    assert refused(logins["worker"], "SELECT raise_alert('Run Failed; rm -rf /', '{}')") == "22023"
    big = "SELECT raise_alert('run_failed', jsonb_build_object('x', repeat('y', 20000)))"
    assert refused(logins["worker"], big) == "54000"
