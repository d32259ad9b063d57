"""Static checks over the SQL: plpgsql_check on every PL/pgSQL function as the migrations built it,
squawk on the statements the migrations run (`.squawk.toml` says which rules are left out and why)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from migrating import migrate_in
from psycopg2.extras import LoggingConnection
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from turing_db.paths import PROJECT_DIR

# Each PL/pgSQL function, each trigger function once per trigger (with its table and transition
# tables); errors and warnings, extra ones included, but not performance or security hints.
PLPGSQL_CHECK = """
SELECT f.oid::regprocedure::text AS function, tg.tgrelid::regclass::text AS on_table, c.level, c.lineno,
       c.sqlstate, c.message
  FROM pg_proc AS f
  JOIN pg_language AS l ON l.oid = f.prolang AND l.lanname = 'plpgsql'
  LEFT JOIN pg_trigger AS tg ON tg.tgfoid = f.oid AND NOT tg.tgisinternal
 CROSS JOIN LATERAL plpgsql_check_function_tb(
           f.oid, coalesce(tg.tgrelid, 0), oldtable => tg.tgoldtable, newtable => tg.tgnewtable,
           fatal_errors => false, other_warnings => true, extra_warnings => true,
           performance_warnings => false, security_warnings => false) AS c
 WHERE f.pronamespace = 'public'::regnamespace
   AND (f.prorettype <> 'trigger'::regtype OR tg.oid IS NOT NULL)
 ORDER BY 1, 2, c.lineno
"""

# The checker's limit, not a fault: these trigger functions serve two tables and branch on
# TG_TABLE_NAME; plpgsql_check reads both branches against each table, so the other table's branch
# names columns "gone" lacks. The tests of their behaviour run both branches on their own tables.
TWO_TABLE_TRIGGERS = {"delete_log_rows()", "guard_work_references()"}


def test_plpgsql_check_finds_nothing_in_any_function(database_url: URL) -> None:
    # a session of its own, closed afterwards: the extension is rolled back, but its library stays
    # loaded in the backend, hooked into PL/pgSQL, and a pooled session would carry it on
    checking = create_engine(database_url, poolclass=NullPool)
    try:
        with checking.connect() as conn:
            transaction = conn.begin()  # the extension is created for this check only
            try:
                conn.execute(text("CREATE EXTENSION plpgsql_check"))
                findings = [dict(row) for row in conn.execute(text(PLPGSQL_CHECK)).mappings()]
            finally:
                transaction.rollback()
    finally:
        checking.dispose()
    unexplained = [
        finding
        for finding in findings
        if not (
            finding["function"] in TWO_TABLE_TRIGGERS
            and finding["sqlstate"] == "42703"
            and re.fullmatch(r"column gone\.\w+ does not exist", finding["message"])
        )
    ]
    assert unexplained == []


def migration_statements(database_url: URL) -> dict[str, list[str]]:
    """Every statement an upgrade from nothing runs, by the revision it belongs to (a transaction
    on the session database, rolled back: down to base, then up to head while listening)."""
    statements: list[str] = []
    listening = [False]

    class Listener:
        def write(self, sql: Any) -> None:
            if listening[0]:
                statements.append(sql if isinstance(sql, str) else sql.decode())

        def flush(self) -> None:
            pass

    class ListenedConnection(LoggingConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.initialize(Listener())

    listened = create_engine(database_url, connect_args={"connection_factory": ListenedConnection})
    try:
        with listened.connect() as conn:
            transaction = conn.begin()
            try:
                migrate_in(conn, "base")
                listening[0] = True
                migrate_in(conn, "head")
            finally:
                listening[0] = False
                transaction.rollback()
    finally:
        listened.dispose()
    by_revision: dict[str, list[str]] = {}
    current: list[str] = []
    for sql in statements:
        stamp = re.match(r"\s*(?:INSERT INTO alembic_version .*VALUES \('(\w+)'\)|UPDATE alembic_version "
                         r"SET version_num='(\w+)')", sql)  # fmt: skip
        if stamp:
            by_revision[stamp.group(1) or stamp.group(2)] = current
            current = []
        elif not re.match(
            r"\s*(SELECT|select|show|SET LOCAL|CREATE TABLE alembic_version|BEGIN|COMMIT)", sql
        ):
            current.append(sql.rstrip().rstrip(";") + ";")
    return by_revision


def test_squawk_passes_the_sql_every_migration_runs(database_url: URL, tmp_path: Path) -> None:
    by_revision = migration_statements(database_url)
    assert len(by_revision) >= 14 and all(by_revision.values())
    for revision, statements in by_revision.items():
        (tmp_path / f"{revision}.sql").write_text("\n\n".join(statements) + "\n")
    squawk = Path(sys.executable).parent / "squawk"
    result = subprocess.run([str(squawk), "--config", str(PROJECT_DIR / ".squawk.toml"), *sorted(
        str(path) for path in tmp_path.glob("*.sql"))], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
