"""The database calls retry only what a retry can fix: an error the database reported is raised at once."""

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from turing_db import database


def test_an_error_the_database_reports_is_not_retried_even_when_operational(engine: Engine) -> None:
    """SQLAlchemy files SQLSTATE class 55 (object not in prerequisite state) and others under
    OperationalError; the database answered, so retrying would only repeat the failure."""
    calls = []

    def call() -> None:
        calls.append(1)
        with engine.connect() as conn:  # a sequence read before nextval() in this session: SQLSTATE 55000
            conn.execute(text("CREATE TEMP SEQUENCE turing_retry_probe"))
            conn.execute(text("SELECT currval('turing_retry_probe')"))

    with pytest.raises(OperationalError) as raised:
        database.retry_while_unreachable(call)()
    assert raised.value.orig.pgcode == "55000"  # type: ignore[union-attr]
    assert len(calls) == 1
