"""Alembic, driven from Python: upgrade to head, or report where the database stands.

The same migrations run from the `alembic` command and from here; here the caller's connection is
handed to env.py, so `make run` and the tests provision exactly as `alembic upgrade head` does.
"""

from __future__ import annotations

import psycopg2
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from turing_db import database
from turing_db.paths import PROJECT_DIR


class MigrationFailed(Exception):
    """A migration was refused by the database; nothing was changed (DDL is transactional)."""


def alembic_config() -> Config:
    config = Config(str(PROJECT_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_DIR / "alembic"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    _run(engine, command.downgrade, revision)


def _run(engine: Engine, action, revision: str) -> None:  # type: ignore[no-untyped-def]
    config = alembic_config()
    try:
        with engine.begin() as conn:
            database.lift_statement_timeout(conn)
            config.attributes["connection"] = conn
            action(config, revision)
    except (psycopg2.Error, DBAPIError) as exc:
        error = exc.orig if isinstance(exc, DBAPIError) else exc
        diag = getattr(error, "diag", None)
        message = diag.message_primary if diag and diag.message_primary else str(error).splitlines()[0]
        hint = f" (hint: {diag.message_hint})" if diag and diag.message_hint else ""
        raise MigrationFailed(f"migration to {revision} refused, nothing changed: {message}{hint}") from exc
