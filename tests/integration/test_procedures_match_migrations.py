"""procedures/ is the truth: the migrated database holds exactly its objects, and every pin resolves."""

from sqlalchemy import text
from sqlalchemy.engine import Engine

from turing_db.provisioning import procedures

SNAPSHOT = """
SELECT 'function ' || p.oid::regprocedure::text, pg_get_functiondef(p.oid)
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT CASE c.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END || c.relname,
       pg_get_viewdef(c.oid, true)
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'index ' || i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'm'
"""

DROP_ALL = """
DO $drop$
DECLARE target record;
BEGIN
    FOR target IN SELECT c.relname, c.relkind FROM pg_class c
                   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm') LOOP
        EXECUTE format(CASE target.relkind WHEN 'm' THEN 'DROP MATERIALIZED VIEW IF EXISTS %I CASCADE'
                                           ELSE 'DROP VIEW IF EXISTS %I CASCADE' END, target.relname);
    END LOOP;
    -- a function that a column is computed with (posting_dedup_key) stays: dropping it would drop the
    -- column, which functions read; its file replaces it in place
    FOR target IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                   WHERE p.pronamespace = 'public'::regnamespace
                     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
                     AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                      WHERE d.refobjid = p.oid AND d.classid = 'pg_attrdef'::regclass) LOOP
        EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', target.signature);
    END LOOP;
END
$drop$;
"""


def snapshot(conn) -> dict[str, str]:
    return {name: definition for name, definition in conn.execute(text(SNAPSHOT))}


def test_migrated_database_matches_procedures_folder(engine: Engine) -> None:
    with engine.connect() as conn:
        transaction = conn.begin()
        migrated = snapshot(conn)
        procedures.execute_script(conn, DROP_ALL)
        for path in procedures.current_files():
            procedures.execute_script(conn, path.read_text())
        from_folder = snapshot(conn)
        transaction.rollback()
    missing = sorted(set(from_folder) - set(migrated))
    extra = sorted(set(migrated) - set(from_folder))
    changed = sorted(name for name in set(migrated) & set(from_folder) if migrated[name] != from_folder[name])
    assert (missing, extra, changed) == ([], [], []), (
        "the migrations do not build what procedures/ defines: write a migration that installs the "
        f"changed files. missing={missing} extra={extra} changed={changed}"
    )


def test_every_pinned_version_resolves() -> None:
    pins = procedures.pins_in_migrations()
    assert pins, "no migration installs a procedure: the pin pattern no longer matches the migrations"
    for migration, name, digest in pins:
        assert procedures.sha256(procedures.pinned_text(name, digest)) == digest, (migration, name)


def test_frozen_files_are_named_by_their_content() -> None:
    for frozen in procedures.FROZEN_DIR.glob("*.sql"):
        assert procedures.sha256(frozen.read_text()) == frozen.stem


def test_every_procedure_file_is_installed_by_some_migration() -> None:
    installed = {name for _, name, _ in procedures.pins_in_migrations()}
    assert {path.name for path in procedures.current_files()} <= installed


def test_every_function_pins_its_search_path_or_is_an_inlined_helper() -> None:
    """A SET clause prevents SQL functions from being inlined; the helpers that must be inlined say so."""
    for path in procedures.current_files():
        body = path.read_text()
        if "CREATE OR REPLACE FUNCTION" in body:
            pinned = "SET search_path = pg_catalog, public, pg_temp" in body
            inlined = "-- Inlined into its callers" in body and "LANGUAGE sql" in body
            assert pinned or inlined, path.name
