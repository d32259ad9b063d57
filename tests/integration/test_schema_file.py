"""docs/schema.sql is what the migrations build: a migration's effect shows in that file's diff."""

import pytest
from sqlalchemy.engine import Engine

from turing_db.provisioning import schema


def test_migrations_build_what_docs_schema_sql_shows(engine: Engine) -> None:
    with engine.connect() as conn:
        built = schema.describe(conn)
    committed = schema.SCHEMA_FILE.read_text() if schema.SCHEMA_FILE.exists() else ""
    if built != committed:
        diff = schema.unified_diff(
            committed, built, "docs/schema.sql (committed)", "migrations at head", limit=40
        )
        pytest.fail(
            "docs/schema.sql does not show what the migrations build: run `make schema` "
            f"(python -m turing_db.provisioning.schema) and commit docs/schema.sql\n{diff}",
            pytrace=False,
        )


def test_describe_is_deterministic(engine: Engine) -> None:
    with engine.connect() as conn:
        first = schema.describe(conn)
    with engine.connect() as conn:
        second, again = schema.describe(conn), schema.describe(conn)
    assert first == second == again
    assert "-- tables\n" in first and "-- functions\n" in first and "-- pg_cron jobs\n" in first
