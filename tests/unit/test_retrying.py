"""The calls into the database are retried while the database is unreachable, and only then."""

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError

from turing_db import database


def flaky(failures: int, error: Exception):  # type: ignore[no-untyped-def]
    calls = []

    def call(value: int) -> int:
        calls.append(value)
        if len(calls) <= failures:
            raise error
        return value * 2

    return call, calls


def test_unreachable_database_is_retried_until_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "wait_exponential", lambda **_: lambda state: 0)
    call, calls = flaky(2, OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    assert database.retry_while_unreachable(call)(21) == 42
    assert len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    call, calls = flaky(1, ProgrammingError("SELECT", {}, Exception("syntax error")))
    with pytest.raises(ProgrammingError):
        database.retry_while_unreachable(call)(1)
    assert len(calls) == 1


class RolledBack(Exception):
    """What psycopg2 raises for a deadlock: an error with SQLSTATE 40P01."""

    pgcode = "40P01"


def test_a_transaction_rolled_back_by_a_deadlock_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "wait_exponential", lambda **_: lambda state: 0)
    call, calls = flaky(1, OperationalError("SELECT complete_chunk()", {}, RolledBack("deadlock detected")))
    assert database.retry_while_unreachable(call)(5) == 10
    assert len(calls) == 2
