"""let operators see which actor is slow or failing: error_summary, actor_performance_summary, and a
pg_cron job that keeps the materialized view fresh

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# pg_cron runs schedules in UTC; the finest schedule is one minute.
SCHEDULE_REFRESH = """
SELECT cron.schedule('refresh-actor-performance', '*/5 * * * *', 'SELECT public.refresh_performance_views()');
"""
UNSCHEDULE_REFRESH = """
SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'refresh-actor-performance';
"""

# pg_cron can only be created in the database named by cron.database_name, and only when preloaded.
REQUIRE_PG_CRON = """
DO $guard$
DECLARE
    cron_database text := current_setting('cron.database_name', true);
BEGIN
    IF cron_database IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not preloaded on this server'
            USING HINT = format('add shared_preload_libraries = ''pg_cron'' and cron.database_name = ''%s'' '
                                'to postgresql.conf, then restart PostgreSQL (make db does this for the '
                                'embedded cluster)', current_database());
    END IF;
    IF cron_database <> current_database() THEN
        RAISE EXCEPTION 'pg_cron runs in database "%", not in "%"', cron_database, current_database()
            USING HINT = format('set cron.database_name = ''%s'' in postgresql.conf and restart, or point '
                                'TURING_DATABASE_URL at database "%s"', current_database(), cron_database);
    END IF;
END
$guard$;
CREATE EXTENSION IF NOT EXISTS pg_cron;
"""


def upgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, REQUIRE_PG_CRON)
    install(
        connection,
        "0100_view_error_summary.sql",
        "b7f6b3114167cecbecebe4074c5a8e15e1977ec1e064ab0a2dd1f61cacbf1856",
    )
    install(
        connection,
        "0110_matview_actor_performance_summary.sql",
        "182060c6fe63d733dadf8eeb52ba40f7dd3f688e08d0c574bd3df0d06abf9a28",
    )
    install(
        connection,
        "0120_function_refresh_performance_views.sql",
        "77c0ca0bd374087c3e2411e870f271ab0e6ceaff378dc18ed0acc074b4581c23",
    )
    execute_script(connection, SCHEDULE_REFRESH)


def downgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, UNSCHEDULE_REFRESH)
    execute_script(
        connection,
        """
        DROP FUNCTION public.refresh_performance_views();
        DROP MATERIALIZED VIEW public.actor_performance_summary;
        DROP VIEW public.error_summary;
        """,
    )
