"""Alembic environment: the database comes from turing_db.settings, or from a caller's connection.

A caller (tests, `turing migrate`) may pass an open connection as `config.attributes["connection"]`;
otherwise the settings decide (TURING_DATABASE_URL, TURING_DB_*, or the embedded cluster).
"""

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from turing_db.settings import load_settings

config = context.config


def run_migrations(connection) -> None:
    context.configure(connection=connection, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = create_engine(load_settings().url, poolclass=NullPool)
    with engine.connect() as connection:
        run_migrations(connection)


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: the migrations call SQL functions")
run_migrations_online()
