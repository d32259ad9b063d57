"""Migrating inside a caller's transaction (rolled back by the test), with alembic's -x arguments."""

from __future__ import annotations

import argparse

from alembic import command
from sqlalchemy.engine import Connection

from turing_db.provisioning import migrations


def migrate_in(conn: Connection, target: str, x: list[str] | None = None) -> None:
    """`alembic [-x …] upgrade head` when `target` is "head", else `downgrade target`, on `conn`."""
    config = migrations.alembic_config()
    config.attributes["connection"] = conn
    config.cmd_opts = argparse.Namespace(x=x or [])
    (command.upgrade if target == "head" else command.downgrade)(config, target)
