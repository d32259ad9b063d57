"""Migrations: one head, up/down/up leaves the same database, pg_cron job provisioned, clear errors."""

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from migrating import migrate_in
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, Engine

from turing_db.provisioning import migrations

OUR_TABLES = {"actors", "stages", "conversations", "workflows", "workflow_conversations", "instructions",
              "instruction_steps", "postings", "workflow_runs", "posting_state_checkpoints",
              "conversation_outputs", "actor_calls"}  # fmt: skip


def public_objects(engine: Engine) -> dict[str, set[str]]:
    with engine.connect() as conn:
        tables = set(conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )).scalars())  # fmt: skip
        views = set(conn.execute(text(
            "SELECT relname FROM pg_class WHERE relkind IN ('v', 'm') AND relnamespace = 'public'::regnamespace"
        )).scalars())  # fmt: skip
        functions = set(conn.execute(text(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
        )).scalars())  # fmt: skip
        jobs = set(conn.execute(text("SELECT jobname FROM cron.job")).scalars())
    return {"tables": tables, "views": views, "functions": functions, "jobs": jobs}


def test_there_is_a_single_head() -> None:
    heads = ScriptDirectory.from_config(migrations.alembic_config()).get_heads()
    assert len(heads) == 1


def test_head_provisions_tables_views_functions_and_the_cron_job(engine: Engine) -> None:
    objects = public_objects(engine)
    assert OUR_TABLES <= objects["tables"]
    assert {"error_summary", "actor_performance_summary"} <= objects["views"]
    assert "refresh_performance_views()" in objects["functions"]
    assert "refresh-actor-performance" in objects["jobs"]
    assert migrations.current_revision(engine) == migrations.head_revision()


def test_cron_job_refreshes_the_performance_view_in_this_database(engine: Engine) -> None:
    with engine.connect() as conn:
        job = conn.execute(text(
            "SELECT schedule, command, database, active FROM cron.job WHERE jobname = 'refresh-actor-performance'"
        )).one()  # fmt: skip
        assert job.command == "SELECT public.refresh_performance_views()"
        assert job.database == conn.execute(text("SELECT current_database()")).scalar()
        assert job.active


def test_downgrade_base_removes_everything_and_upgrade_restores_it(engine: Engine) -> None:
    at_head = public_objects(engine)
    migrations.downgrade(engine, "base")
    emptied = public_objects(engine)
    assert emptied == {"tables": set(), "views": set(), "functions": set(), "jobs": set()}
    migrations.upgrade(engine)
    assert public_objects(engine) == at_head
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT count(*) FROM workflow_conversations WHERE workflow_id = 3001")
            ).scalar()
            == 7
        )


def definitions(conn: Connection) -> dict[str, object]:
    """What each object is, not only its name: function and view definitions, cron jobs, actor rows."""
    return {
        "functions": dict(conn.execute(text(
            "SELECT p.oid::regprocedure::text, md5(pg_get_functiondef(p.oid)) FROM pg_proc p "
            "WHERE p.pronamespace = 'public'::regnamespace "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
        )).all()),
        "views": dict(conn.execute(text(
            "SELECT relname, pg_get_viewdef(oid) FROM pg_class "
            "WHERE relkind IN ('v', 'm') AND relnamespace = 'public'::regnamespace"
        )).all()),
        "jobs": dict(conn.execute(text("SELECT jobname, schedule || ' ' || command FROM cron.job")).all()),
        "actors": dict(conn.execute(text("SELECT actor_name, config::text FROM actors")).all()),
    }  # fmt: skip


def test_each_downgrade_restores_what_the_upgrade_to_that_revision_built(engine: Engine) -> None:
    """Up to N, and head then down to N, give the same definitions, for every revision N."""
    script = ScriptDirectory.from_config(migrations.alembic_config())
    revisions = [revision.revision for revision in reversed(list(script.walk_revisions()))]
    config = migrations.alembic_config()
    with engine.connect() as conn:
        transaction = conn.begin()  # rolled back: the session database stays at head
        config.attributes["connection"] = conn
        try:
            command.downgrade(config, "base")
            built = {}
            for revision in revisions:
                command.upgrade(config, revision)
                built[revision] = definitions(conn)
            for revision in reversed(revisions[:-1]):
                command.downgrade(config, revision)
                assert definitions(conn) == built[revision], f"downgrading to {revision} differs"
        finally:
            transaction.rollback()


def test_upgrade_again_at_head_changes_nothing(engine: Engine) -> None:
    before = public_objects(engine)
    migrations.upgrade(engine)
    assert public_objects(engine) == before


def test_a_database_other_than_the_cron_database_is_refused_with_the_fix(server_url: URL) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS turing_not_cron"))
        conn.execute(text("CREATE DATABASE turing_not_cron"))
    other = create_engine(server_url.set(database="turing_not_cron"))
    try:
        with pytest.raises(migrations.MigrationFailed) as caught:
            migrations.upgrade(other)
        assert 'pg_cron runs in database "turing_test", not in "turing_not_cron"' in str(caught.value)
        assert "set cron.database_name = 'turing_not_cron'" in str(caught.value)
        assert migrations.current_revision(other) is None  # the failed upgrade rolled back completely
    finally:
        other.dispose()
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE turing_not_cron"))
        admin.dispose()


def test_stored_placeholders_are_what_the_tokeniser_gives_today(engine: Engine) -> None:
    """instructions.placeholders is computed when a template is written: a change of the template
    syntax (template_placeholders()) must come with a migration that rewrites it."""
    with engine.connect() as conn:
        stale = conn.execute(text(
            "SELECT count(*) FROM instructions WHERE placeholders IS DISTINCT FROM template_placeholder_list(prompt_template)"
        )).scalar_one()  # fmt: skip
        total = conn.execute(text("SELECT count(*) FROM instructions")).scalar_one()
    assert total > 0 and stale == 0


def test_downgrading_0019_leaves_one_server_per_actor_and_the_actors_history(conn: Connection) -> None:
    """Before 0019 an actor had one server: a list becomes its first URL, the servers' breakers and
    history go, the actor's own stay."""
    conn.execute(text(
        "INSERT INTO actors (actor_name, actor_type, config) VALUES ('t_spread', 'openai', "
        "'{\"model\": \"m\", \"base_url\": [{\"url\": \"http://a/v1\", \"max_concurrency\": 2}, \"http://b/v1\"]}');"
        "INSERT INTO actor_gates (actor_id, endpoint) SELECT actor_id, e FROM actors, "
        "unnest(ARRAY['', 'http://a/v1']) AS e WHERE actor_name = 't_spread';"
        "INSERT INTO circuit_breaker_events (actor_id, endpoint, from_state, to_state, reason) "
        "SELECT actor_id, e, 'closed', 'open', 'test' FROM actors, unnest(ARRAY['', 'http://a/v1']) AS e "
        "WHERE actor_name = 't_spread'"))  # fmt: skip
    migrate_in(conn, "0018")
    assert (
        conn.execute(text("SELECT config ->> 'base_url' FROM actors WHERE actor_name = 't_spread'")).scalar()
        == "http://a/v1"
    )
    assert conn.execute(text("SELECT count(*) FROM actor_gates JOIN actors USING (actor_id) "
                             "WHERE actor_name = 't_spread'")).scalar() == 1  # fmt: skip
    assert conn.execute(text("SELECT count(*) FROM circuit_breaker_events JOIN actors USING (actor_id) "
                             "WHERE actor_name = 't_spread'")).scalar() == 1  # fmt: skip
    migrate_in(conn, "head")
