"""One connection pool per process, and the checks every command makes before it touches data.

The pool is SQLAlchemy's QueuePool (at most `TURING_DB_POOL_SIZE` connections, 10 by default) with
pre-ping, so a restarted database costs one failed ping rather than a failed command.
"""

from __future__ import annotations

import threading

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from turing_db import database
from turing_db.settings import Settings, load_settings


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the message names it (never its password) and the fix."""


_engine: Engine | None = None
_engine_lock = threading.Lock()


def make_engine(settings: Settings) -> Engine:
    return create_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        pool_timeout=30,
        connect_args={**database.CONNECT_ARGS, "options": session_options(settings)},
        hide_parameters=True,  # a failed statement is logged without its values (prompts, outputs, secrets)
    )


def session_options(settings: Settings) -> str:
    """Server settings for every pooled session: a statement that runs too long is cancelled, and a
    session idle inside a transaction (a worker whose network dropped) is ended, releasing its locks;
    times are shown in UTC (what `turing status`, `errors` and `report` label them)."""
    limits = settings.limits
    return (f"-c statement_timeout={limits.statement_timeout_seconds}s -c timezone=UTC "
            f"-c idle_in_transaction_session_timeout={limits.idle_in_transaction_seconds}s "
            f"{database.SERVER_KEEPALIVES}")  # fmt: skip


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine, created on first use from `settings` (or the environment)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = make_engine(settings or load_settings())
        return _engine


def dispose_engine() -> None:
    """Close every pooled connection (tests, and the parent before it forks workers)."""
    global _engine
    with _engine_lock:
        if _engine is not None:
            _engine.dispose()
            _engine = None


def check_connection(engine: Engine, settings: Settings) -> None:
    """Fail with a readable message when the database cannot be reached."""
    try:
        database.ping(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        hint = (
            "run `make db` to start the embedded cluster"
            if settings.embedded
            else ("check TURING_DATABASE_URL / TURING_DB_* and that the server is up")
        )
        if "password" in reason:
            hint = "the server wants a password: set TURING_DB_PASSWORD (or put it in .env)"
        raise DatabaseUnavailable(f"cannot connect to {settings.safe_url}: {reason} ({hint})") from None
