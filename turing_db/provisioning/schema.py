"""docs/schema.sql: the schema that the migrations build, as one deterministic, readable text file.

`describe()` reads it from the catalogs of a migrated database (not pg_dump, whose output varies by
version); `python -m turing_db.provisioning.schema` writes it from a throwaway embedded cluster, and
tests/integration/test_schema_file.py fails when the file and the migrations disagree.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from turing_db.paths import PROJECT_DIR
from turing_db.pool import make_engine
from turing_db.provisioning import migrations
from turing_db.provisioning.cluster import EmbeddedCluster
from turing_db.settings import Settings

SCHEMA_FILE = PROJECT_DIR / "docs" / "schema.sql"
HEADER = """\
-- The schema that `alembic upgrade head` builds in the public schema, written from the catalogs by
-- `python -m turing_db.provisioning.schema` (make schema). Do not edit: regenerate and commit it with
-- every migration; tests/integration/test_schema_file.py fails when it and the migrations disagree.
-- A reading aid, not a script. A function's body is shown as the md5 of its source (of its parsed body
-- for SQL-standard RETURN / BEGIN ATOMIC bodies): the bodies live in procedures/, and
-- tests/integration/test_procedures_match_migrations.py compares those with the migrations already.
-- Sorted by name, but columns keep their table order. Left out: objects that belong to extensions,
-- owners, grants, OIDs, versions, and the indexes of PRIMARY KEY / UNIQUE / EXCLUDE constraints.
-- Written on PostgreSQL 15 (the version the project supports): pg_get_*def() text can differ between
-- major versions, so regenerate it, rather than trust a diff, after a major upgrade.
"""

# Rows come in no particular order (columns in table order): Python sorts them by code point, whatever
# the database's collation. Names come out through quote_ident, definitions with search_path = public.
QUERIES = {
    "types": """
        SELECT quote_ident(t.typname), t.typtype, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
               t.typdefault, (SELECT string_agg(quote_literal(v.enumlabel), ', ' ORDER BY v.enumsortorder)
                                FROM pg_enum v WHERE v.enumtypid = t.oid),
               (SELECT string_agg(' CONSTRAINT ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid),
                                  '' ORDER BY k.conname COLLATE "C") FROM pg_constraint k WHERE k.contypid = t.oid)
          FROM pg_type t
         WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd') AND NOT EXISTS
               (SELECT FROM pg_depend e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid AND e.deptype = 'e')""",
    "sequences": """
        SELECT quote_ident(c.relname), format_type(s.seqtypid, NULL)
          FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
         WHERE c.relnamespace = 'public'::regnamespace AND NOT EXISTS (SELECT FROM pg_depend d
               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))""",
    "relations": """
        SELECT quote_ident(c.relname), c.relkind, c.relpersistence = 'u', array_to_string(c.reloptions, ', '),
               c.relrowsecurity, CASE c.relkind WHEN 'p' THEN pg_get_partkeydef(c.oid) END,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END
          FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT EXISTS
               (SELECT FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')""",
    "columns": """
        SELECT quote_ident(c.relname), quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), a.attnotnull,
               a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid),
               CASE WHEN a.attcollation <> t.typcollation THEN quote_ident(l.collname) END
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          LEFT JOIN pg_collation l ON l.oid = a.attcollation
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0
           AND NOT a.attisdropped
         ORDER BY a.attnum""",
    "constraints": """
        SELECT quote_ident(c.relname), quote_ident(k.conname), pg_get_constraintdef(k.oid, true)
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
         WHERE c.relnamespace = 'public'::regnamespace AND k.contype <> 'n'""",
    "indexes": """
        SELECT quote_ident(c.relname), quote_ident(i.relname), pg_get_indexdef(x.indexrelid)
          FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
         WHERE c.relnamespace = 'public'::regnamespace AND NOT EXISTS (SELECT FROM pg_constraint k
               WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x'))""",
    "triggers": """
        SELECT quote_ident(c.relname), quote_ident(t.tgname), pg_get_triggerdef(t.oid, true), t.tgenabled
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
         WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal""",
    "functions": """
        SELECT p.oid::regprocedure::text, p.prokind, pg_get_function_arguments(p.oid),
               pg_get_function_result(p.oid), l.lanname, p.provolatile, p.proisstrict, p.prosecdef,
               p.proleakproof, p.proparallel, p.proconfig,
               md5(CASE WHEN p.prosqlbody IS NULL THEN p.prosrc ELSE pg_get_function_sqlbody(p.oid) END)
          FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
         WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS
               (SELECT FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid AND e.deptype = 'e')""",
    "extensions": "SELECT quote_ident(extname) FROM pg_extension",
}
CRON_JOBS = "SELECT jobname, schedule, command, active FROM cron.job"  # not jobid, database, username
VOLATILITY = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}
PARALLEL = {"s": "PARALLEL SAFE", "r": "PARALLEL RESTRICTED", "u": "PARALLEL UNSAFE"}
SECTIONS = ("extensions", "types", "sequences", "tables", "views", "materialized views", "functions",
            "pg_cron jobs")  # fmt: skip
KIND = {"f": "FUNCTION", "p": "PROCEDURE", "a": "AGGREGATE", "w": "WINDOW FUNCTION"}


def describe(connection: Connection) -> str:
    """The schema text of the database behind `connection` (read-only; search_path is restored)."""
    previous = connection.execute(text("SELECT current_setting('search_path')")).scalar_one()
    connection.execute(text("SELECT set_config('search_path', 'public', false)"))
    try:
        rows = {name: _rows(connection, sql) for name, sql in QUERIES.items()}
        rows["revision"] = _rows(connection, "SELECT version_num FROM alembic_version", "alembic_version")
        rows["cron"] = _rows(connection, CRON_JOBS, "cron.job")  # pg_cron's schema may be absent
    finally:
        connection.execute(text("SELECT set_config('search_path', :path, false)"), {"path": previous})
    return _render(rows)


def _rows(connection: Connection, sql: str, needs: str | None = None) -> list[tuple[Any, ...]]:
    """The rows of `sql`; none when the table `needs` does not exist."""
    if needs and connection.execute(text("SELECT to_regclass(:t) IS NULL"), {"t": needs}).scalar_one():
        return []
    return [tuple(row) for row in connection.execute(text(sql))]


def _render(rows: dict[str, list[tuple[Any, ...]]]) -> str:
    by_relation: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for kind in ("columns", "constraints", "indexes", "triggers"):
        for relation, *rest in rows[kind]:
            by_relation[kind][relation].append(rest)
    revisions = ", ".join(sorted(str(row[0]) for row in rows["revision"])) or "none"
    sections: dict[str, list[str]] = defaultdict(list)
    sections["extensions"] = [f"CREATE EXTENSION {name};" for (name,) in sorted(rows["extensions"])]
    for name, typtype, base, notnull, default, labels, checks in sorted(rows["types"]):
        if typtype == "e":
            sections["types"].append(f"CREATE TYPE {name} AS ENUM ({labels or ''});")
        else:
            extra = (" NOT NULL" if notnull else "") + (f" DEFAULT {default}" if default else "")
            extra += checks or ""
            sections["types"].append(f"CREATE DOMAIN {name} AS {base}{extra};")
    sections["sequences"] = [f"CREATE SEQUENCE {name} AS {kind};" for name, kind in sorted(rows["sequences"])]
    for name, relkind, unlogged, options, rls, partkey, viewdef in sorted(rows["relations"]):
        if relkind in ("r", "p"):
            block = _table(name, unlogged, options, partkey, by_relation["columns"][name],
                           by_relation["constraints"][name])  # fmt: skip
            block += [f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;"] if rls else []
            section = "tables"
        else:
            what = "MATERIALIZED VIEW" if relkind == "m" else "VIEW"
            block = [f"CREATE {what} {name}{f' WITH ({options})' if options else ''} AS", viewdef.rstrip()]
            section = "materialized views" if relkind == "m" else "views"
        block += [f"{definition};" for _, definition in sorted(by_relation["indexes"][name])]
        block += [
            f"{definition};" + ("" if enabled == "O" else f"  -- tgenabled = {enabled}")
            for _, definition, enabled in sorted(by_relation["triggers"][name])
        ]
        sections[section].append("\n".join(block))
    for function in sorted(rows["functions"]):
        sections["functions"].append(_function(*function))
    for jobname, schedule, command, active in sorted(rows["cron"], key=lambda job: (job[0] or "", job[1:3])):
        call = f"SELECT cron.schedule({_literal(jobname or '')}, {_literal(schedule)}, {_literal(command)});"
        sections["pg_cron jobs"].append(call + ("" if active else "  -- inactive"))
    body = "".join(f"\n\n-- {title}\n\n" + _join(sections[title]) for title in SECTIONS if sections[title])
    return f"{HEADER}-- alembic revision: {revisions}{body}\n"


def _join(blocks: list[str]) -> str:
    """One line per object when every object is one line; else a blank line between objects."""
    return ("\n\n" if any("\n" in block for block in blocks) else "\n").join(blocks)


def _table(name: str, unlogged: bool, options: str | None, partkey: str | None,
           columns: list[list[Any]], constraints: list[list[Any]]) -> list[str]:  # fmt: skip
    lines = []
    for column, type_, notnull, identity, generated, default, collation in columns:
        line = f"    {column} {type_}" + (f" COLLATE {collation}" if collation else "")
        if identity:
            line += f" GENERATED {'ALWAYS' if identity == 'a' else 'BY DEFAULT'} AS IDENTITY"
        elif generated:
            line += f" GENERATED ALWAYS AS ({default}) STORED"
        elif default is not None:
            line += f" DEFAULT {default}"
        lines.append(line + (" NOT NULL" if notnull else ""))
    lines += [f"    CONSTRAINT {constraint} {definition}" for constraint, definition in sorted(constraints)]
    tail = (f" PARTITION BY {partkey}" if partkey else "") + (f" WITH ({options})" if options else "")
    return [f"CREATE {'UNLOGGED ' if unlogged else ''}TABLE {name} (", ",\n".join(lines), f"){tail};"]


def _function(signature: str, kind: str, arguments: str, result: str | None, language: str, volatility: str,
              strict: bool, definer: bool, leakproof: bool, parallel: str, config: list[str] | None,
              digest: str) -> str:  # fmt: skip
    traits = [f"LANGUAGE {language}", VOLATILITY[volatility]] + ["STRICT"] * strict
    traits += ["LEAKPROOF"] * leakproof + ["SECURITY DEFINER"] * definer + [PARALLEL[parallel]]
    lines = [f"{KIND.get(kind, kind)} {signature}"]
    lines += [f"    ARGUMENTS {arguments}"] if arguments else []
    lines += [f"    RETURNS {result}"] if result else []
    lines += ["    " + " ".join(traits)] + [f"    SET {setting}" for setting in sorted(config or [])]
    return "\n".join([*lines, f"    BODY md5 {digest};"])


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def unified_diff(expected: str, actual: str, expected_name: str, actual_name: str, limit: int = 0) -> str:
    """A unified diff of two schema texts; with `limit`, at most that many lines."""
    lines = list(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                      expected_name, actual_name))  # fmt: skip
    if limit and len(lines) > limit:
        lines = [*lines[:limit], f"… {len(lines) - limit} more diff lines\n"]
    return "".join(lines)


@contextlib.contextmanager
def scratch_database() -> Iterator[Engine]:
    """A throwaway embedded cluster, migrated to head; stopped and removed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="turing-schema-"))
    parent.chmod(0o755)  # the server user must traverse it when we are root
    cluster = EmbeddedCluster(parent / "cluster")
    try:
        cluster.ensure_running()
        engine = make_engine(Settings(url=cluster.url(), embedded=True))
        try:
            migrations.upgrade(engine)
            yield engine
        finally:
            engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(parent, ignore_errors=True)


def build() -> str:
    """The schema text of a fresh database migrated to head."""
    with scratch_database() as engine, engine.connect() as connection:
        return describe(connection)


def write_schema(path: Path = SCHEMA_FILE) -> str:
    """Write the schema at head to `path`; return the text written."""
    schema = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema)
    return schema


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m turing_db.provisioning.schema", description=__doc__)
    parser.add_argument("--out", type=Path, default=SCHEMA_FILE, help="default: %(default)s")
    parser.add_argument("--check", action="store_true", help="exit 1 with a diff if the file is out of date")
    args = parser.parse_args(argv)
    shown = os.path.relpath(args.out)
    started = time.monotonic()
    if args.check:
        schema = build()
        existing = args.out.read_text() if args.out.exists() else ""
        if existing != schema:
            sys.stdout.write(unified_diff(existing, schema, f"{shown} (committed)", "migrations at head"))
            print(f"{shown} is out of date: run `make schema` and commit it")
            return 1
        print(f"{shown} matches the migrations ({time.monotonic() - started:.1f} s)")
        return 0
    schema = write_schema(args.out)
    print(f"wrote {shown}: the schema at alembic head, {schema.count(chr(10))} lines "
          f"({time.monotonic() - started:.1f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
