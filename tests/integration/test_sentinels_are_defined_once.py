"""The engine's sentinels are listed once, by engine_sentinels(); every other mention agrees with it."""

import re

from sqlalchemy import text
from sqlalchemy.engine import Connection

from turing_db.actors import SENTINELS
from turing_db.paths import PROJECT_DIR

BRACKETED = re.compile(r"\[[A-Z][A-Z_]+\]")


def listed(conn: Connection) -> list[str]:
    return list(conn.execute(text("SELECT sentinel FROM engine_sentinels()")).scalars())


def test_pythons_sentinels_are_the_ones_sql_lists(conn: Connection) -> None:
    assert sorted(SENTINELS) == sorted(listed(conn))


def test_every_bracketed_literal_in_the_code_is_a_listed_sentinel(conn: Connection) -> None:
    """A sentinel spelled in procedures/, a migration or the package must be one the engine knows."""
    known = set(listed(conn))
    sources = [*(PROJECT_DIR / "procedures").glob("*.sql"), *(PROJECT_DIR / "alembic" / "versions").glob("*.py"),
               *(PROJECT_DIR / "turing_db").rglob("*.py")]  # fmt: skip
    unknown = {
        f"{path.relative_to(PROJECT_DIR)}: {literal}"
        for path in sources
        for literal in BRACKETED.findall(path.read_text())
        if literal not in known
    }
    assert not unknown, sorted(unknown)
    assert known <= {literal for path in sources for literal in BRACKETED.findall(path.read_text())}


def test_the_error_handling_check_requires_what_the_list_says_a_step_can_produce(conn: Connection) -> None:
    """Without the error handler, a python step needs [ERROR], [FAILED] and [TIMEOUT] branches."""
    from workflows import Step, build_workflow, findings, messages

    build_workflow(conn, 7701, [Step("t_lone", entry=True)], [("t_lone", "*", None)])
    conn.execute(text("UPDATE conversations SET enabled = false WHERE conversation_type = 'error_handler'"))
    assert ("error", "error_unhandled", "t_lone") in findings(conn, 7701)
    [message] = [m for m in messages(conn, 7701) if "has no branch for" in m]
    assert "has no branch for [ERROR], [FAILED], [TIMEOUT] and" in message
