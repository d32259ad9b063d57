"""Read-only views of the database for people: posting counts, runs and health.

Every query here only reads; the numbers come from SQL (the postings, runs and checkpoint tables,
pg_cron's catalog) so that psql users and the CLI see the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from turing_db.settings import Settings

CRON_JOBS = ("refresh-actor-performance", "sweep-expired-claims")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def posting_counts(engine: Engine) -> dict[str, int]:
    """Postings in all, complete (every stage column filled, as `stages` lists them), quarantined,
    disabled, and pending (enabled, not quarantined, a stage missing: what a run would route)."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                """
                SELECT count(*),
                       count(*) FILTER (WHERE NOT stage.missing),
                       count(*) FILTER (WHERE posting.quarantined_at IS NOT NULL),
                       count(*) FILTER (WHERE NOT posting.enabled),
                       count(*) FILTER (WHERE stage.missing AND posting.enabled AND posting.quarantined_at IS NULL)
                  FROM postings AS posting
                 CROSS JOIN LATERAL (
                       SELECT EXISTS (SELECT 1 FROM stages
                                       WHERE to_jsonb(posting) ->> stages.posting_column IS NULL) AS missing
                       ) AS stage
                """
            )
        ).one()
    total, complete, quarantined, disabled, pending = (int(value) for value in row)
    return {"total": total, "complete": complete, "quarantined": quarantined, "disabled": disabled,
            "pending": pending}  # fmt: skip


def latest_runs(engine: Engine, limit: int = 10) -> list[tuple[Any, ...]]:
    """The latest runs: id, workflow, status, start, end, and their postings done/failed/quarantined/pending."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT run.workflow_run_id, run.workflow_id, run.status,
                       to_char(run.started_at, 'YYYY-MM-DD HH24:MI:SS'), to_char(run.finished_at, 'HH24:MI:SS'),
                       progress.done, progress.failed, progress.quarantined, progress.waiting + progress.claimed
                  FROM workflow_runs AS run
                 CROSS JOIN LATERAL run_progress(run.workflow_run_id) AS progress
                 ORDER BY run.workflow_run_id DESC
                 LIMIT :limit
                """
            ),
            {"limit": limit},
        )
        return [tuple(row) for row in rows]


def health_checks(engine: Engine, settings: Settings, head: str) -> list[Check]:
    """Connectivity, pg_cron preload and extension, migration revision, and the refresh job."""
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar_one()
            cron_database, database = conn.execute(
                text("SELECT current_setting('cron.database_name', true), current_database()")
            ).one()
            has_cron = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'")).first()
            has_version_table = conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar()
            revision = (
                conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if has_version_table
                else None
            )
            jobs: dict[str, tuple[Any, ...]] = {}
            if has_cron:
                rows = conn.execute(
                    text(
                        """
                        SELECT job.jobname, job.schedule, job.active,
                               (SELECT status || ' at ' || date_trunc('second', end_time)
                                  FROM cron.job_run_details AS detail
                                 WHERE detail.jobid = job.jobid
                                 ORDER BY detail.runid DESC LIMIT 1)
                          FROM cron.job AS job WHERE job.jobname = ANY(:names)
                        """
                    ),
                    {"names": list(CRON_JOBS)},
                )
                jobs = {row[0]: tuple(row[1:]) for row in rows}
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return [Check("database reachable", False, reason)]
    return [
        Check("database reachable", True, f"PostgreSQL {version}, database {database}"),
        Check("pg_cron preloaded", cron_database is not None,
              f"cron.database_name = {cron_database}" if cron_database else "add pg_cron to shared_preload_libraries"),
        Check("pg_cron extension", bool(has_cron), "installed" if has_cron else "run migrations (turing migrate)"),
        Check("migrations at head", revision == head, f"database at {revision or 'nothing'}, code at {head}"),
    ] + [
        Check(f"cron job {name}", bool(name in jobs and jobs[name][1]),
              f"schedule {jobs[name][0]}, last run: {jobs[name][2] or 'not yet'}" if name in jobs else "missing: run migrations")
        for name in CRON_JOBS
    ]  # fmt: skip
