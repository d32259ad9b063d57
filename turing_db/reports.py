"""Health checks for people: what `turing health` prints, judged from facts the database gives.

The facts come from `turing_db.database.health_facts` (server, pg_cron, migration revision, our cron
jobs); this module only decides what is healthy and says how to fix what is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from turing_db import database


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def health_checks(engine: Engine, head: str) -> list[Check]:
    """Connectivity, pg_cron preload and extension, migration revision, and our cron jobs."""
    try:
        facts = database.health_facts(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return [Check("database reachable", False, reason)]
    jobs = facts.cron_jobs
    return [
        Check("database reachable", True, f"PostgreSQL {facts.server_version}, database {facts.database}"),
        Check("pg_cron preloaded", facts.cron_database is not None,
              f"cron.database_name = {facts.cron_database}" if facts.cron_database
              else "add pg_cron to shared_preload_libraries"),
        Check("pg_cron extension", facts.has_pg_cron,
              "installed" if facts.has_pg_cron else "run migrations (turing migrate)"),
        Check("migrations at head", facts.revision == head,
              f"database at {facts.revision or 'nothing'}, code at {head}"),
    ] + [
        Check(f"cron job {name}", name in jobs and jobs[name][1],
              f"schedule {jobs[name][0]}, last run: {jobs[name][2] or 'not yet'}" if name in jobs
              else "missing: run migrations")
        for name in database.CRON_JOBS
    ]  # fmt: skip
