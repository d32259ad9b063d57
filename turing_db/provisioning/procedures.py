"""The SQL objects in `procedures/`, and how a migration pins the version it installs.

`procedures/` holds the current definition of every function and view, one object per file. A
migration installs a file by name *and* SHA-256 (`install(connection, "0200_view_x.sql", "ab12…")`):
while the file is unchanged it is read from `procedures/`; once it changes, the old text is served
from the content-addressed store `alembic/frozen/<sha256>.sql`, so an old migration builds the same
database forever. `turing procedures freeze` fills that store from git history; a test checks that
every pin resolves and that the migrated database equals `procedures/`.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from sqlalchemy.engine import Connection

from turing_db.paths import PROJECT_DIR

PROCEDURES_DIR = PROJECT_DIR / "procedures"
FROZEN_DIR = PROJECT_DIR / "alembic" / "frozen"
MIGRATIONS_DIR = PROJECT_DIR / "alembic" / "versions"
PIN_PATTERN = re.compile(
    r"""install\(\s*\w+\s*,\s*["']([\w.-]+\.sql)["']\s*,\s*["']([0-9a-f]{64})["']\s*,?\s*\)"""
)


class PinnedVersionMissing(Exception):
    """A migration pins a procedure version that is neither current nor frozen."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def current_files() -> list[Path]:
    """Every procedure file, in the order its number gives (the folder listing is the contents)."""
    return sorted(PROCEDURES_DIR.glob("*.sql"))


def pinned_text(name: str, digest: str) -> str:
    """The text of procedure `name` at version `digest`: current if unchanged, else frozen."""
    current = PROCEDURES_DIR / name
    if current.is_file():
        text = current.read_text()
        if sha256(text) == digest:
            return text
    frozen = FROZEN_DIR / f"{digest}.sql"
    if frozen.is_file():
        return frozen.read_text()
    raise PinnedVersionMissing(
        f"procedures/{name} at version {digest[:12]} is neither current nor frozen: "
        "run `turing procedures freeze` (it recovers old versions from git) and commit alembic/frozen/"
    )


def execute_script(connection: Connection, sql: str) -> None:
    """Run SQL text as it is: no bind-parameter parsing, so `:name` and `%` stay literal."""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def install(connection: Connection, name: str, digest: str) -> None:
    """Install one pinned procedure file (used by migrations)."""
    execute_script(connection, pinned_text(name, digest))


def pins_in_migrations() -> list[tuple[str, str, str]]:
    """(migration file, procedure name, sha256) for every `install(...)` call in the migrations."""
    pins = []
    for migration in sorted(MIGRATIONS_DIR.glob("*.py")):
        for name, digest in PIN_PATTERN.findall(migration.read_text()):
            pins.append((migration.name, name, digest))
    return pins


def freeze() -> list[str]:
    """Store every pinned version that is no longer current, recovering its text from git history."""
    FROZEN_DIR.mkdir(parents=True, exist_ok=True)
    stored = []
    for _, name, digest in pins_in_migrations():
        try:
            pinned_text(name, digest)
            continue
        except PinnedVersionMissing:
            pass
        text = _find_in_git(name, digest)
        if text is None:
            raise PinnedVersionMissing(f"no commit holds procedures/{name} at version {digest[:12]}")
        (FROZEN_DIR / f"{digest}.sql").write_text(text)
        stored.append(f"{name} {digest[:12]}")
    return stored


def _find_in_git(name: str, digest: str) -> str | None:
    path = f"procedures/{name}"
    revisions = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "rev-list", "--all", "--", path], capture_output=True, text=True
    ).stdout.split()
    for revision in revisions:
        shown = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "show", f"{revision}:{path}"], capture_output=True, text=True
        )
        if shown.returncode == 0 and sha256(shown.stdout) == digest:
            return shown.stdout
    return None


def digests() -> dict[str, str]:
    """Current name → sha256, for writing a new migration's pins."""
    return {path.name: sha256(path.read_text()) for path in current_files()}
