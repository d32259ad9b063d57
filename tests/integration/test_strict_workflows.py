"""Strict workflows: a committed change that leaves one invalid is refused, with the findings; an edit
in several statements that ends valid is accepted; non-strict workflows are not checked."""

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from workflows import CommittedWorkflows, Step

W = 5401  # written out in the statements below
STRICT_REFUSED = "TD003"


@pytest.fixture
def strict(engine: Engine, workflows: CommittedWorkflows) -> Iterator[int]:
    """A committed strict workflow: a → b → end, entry at a."""
    workflows.build(W, [Step("strict_a", entry=True), Step("strict_b")],
                    [("strict_a", "*", "strict_b"), ("strict_b", "*", None)])  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text("UPDATE workflows SET strict = true WHERE workflow_id = :id"), {"id": W})
    yield W
    with engine.begin() as conn:
        conn.execute(text("UPDATE workflows SET strict = false WHERE workflow_id = :id"), {"id": W})


def commit(engine: Engine, *statements: str) -> DBAPIError | None:
    """Run the statements in one transaction; the error its COMMIT raised, if any."""
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    except DBAPIError as error:
        return error
    return None


ENTRY_AT_B = [
    "UPDATE workflow_conversations SET is_entry_point = false WHERE workflow_id = 5401",
    "UPDATE workflow_conversations SET is_entry_point = true WHERE workflow_id = 5401 AND conversation_id = "
    "(SELECT conversation_id FROM conversations WHERE canonical_name = 'strict_b')",
]


def entry_points(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT canonical_name FROM workflow_conversations JOIN conversations USING (conversation_id) "
            "WHERE workflow_id = :id AND is_entry_point ORDER BY 1"), {"id": W}).scalars())  # fmt: skip


def test_a_breaking_edit_is_refused_at_commit_with_the_findings(engine: Engine, strict: int) -> None:
    error = commit(engine, ENTRY_AT_B[0])  # no entry point left
    assert error is not None and error.orig.pgcode == STRICT_REFUSED  # type: ignore[union-attr]
    diag = error.orig.diag  # type: ignore[union-attr]
    assert diag.message_primary.startswith(
        f"workflow {W} is strict: this change would leave it with 1 error(s)"
    )
    assert [finding["check"] for finding in json.loads(diag.message_detail)] == ["entry_point_missing"]
    assert entry_points(engine) == ["strict_a"]  # nothing changed


def test_an_edit_in_several_statements_that_ends_valid_is_accepted(engine: Engine, strict: int) -> None:
    assert commit(engine, ENTRY_AT_B[0], ENTRY_AT_B[1].replace("strict_b", "strict_a")) is None
    assert entry_points(engine) == ["strict_a"]


def test_checking_early_does_not_let_a_later_statement_break_it(engine: Engine, strict: int) -> None:
    """SET CONSTRAINTS … IMMEDIATE validates there; what the transaction changes afterwards is checked
    again at COMMIT."""
    error = commit(engine, "SET CONSTRAINTS ALL IMMEDIATE", "SELECT 1", "SET CONSTRAINTS ALL DEFERRED",
                   "UPDATE conversations SET actor_id = NULL WHERE canonical_name = 'strict_b'")  # fmt: skip
    assert error is not None and error.orig.pgcode == STRICT_REFUSED  # type: ignore[union-attr]


def test_a_check_inside_one_statement_does_not_excuse_a_later_change(engine: Engine, strict: int) -> None:
    """Under IMMEDIATE, a DO block's statements are checked one by one: the valid edit first, then the
    breaking one, all within one client statement."""
    error = commit(engine, "SET CONSTRAINTS ALL IMMEDIATE", """DO $$ BEGIN
        UPDATE instructions SET prompt_template = prompt_template
         WHERE conversation_id = (SELECT conversation_id FROM conversations WHERE canonical_name = 'strict_a');
        UPDATE conversations SET actor_id = NULL WHERE canonical_name = 'strict_b';
    END $$""")  # fmt: skip
    assert error is not None and error.orig.pgcode == STRICT_REFUSED  # type: ignore[union-attr]


def test_a_new_stage_is_checked_against_every_strict_workflow(engine: Engine, strict: int) -> None:
    """3001's entry points route by stage: a stage none of them routes leaves it invalid."""
    error = commit(
        engine,
        "INSERT INTO stages (stage_name, posting_column, stage_order) VALUES ('location', 'location', 99)",
    )
    assert error is not None and "stage_entry" in error.orig.diag.message_detail  # type: ignore[union-attr]


def test_a_change_to_a_shared_actor_or_the_error_handler_is_checked(engine: Engine, strict: int) -> None:
    error = commit(engine, "UPDATE actors SET config = '{}' WHERE actor_name = 'test_python'")
    assert error is not None and "actor_config" in error.orig.diag.message_detail  # type: ignore[union-attr]
    error = commit(engine, "UPDATE instructions SET enabled = false WHERE conversation_id = "
                           "(SELECT conversation_id FROM conversations WHERE conversation_type = 'error_handler')")  # fmt: skip
    assert error is not None and error.orig.pgcode == STRICT_REFUSED  # type: ignore[union-attr]


def test_3001_is_strict_and_a_workflow_that_is_not_is_not_checked(engine: Engine, strict: int) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("SELECT strict FROM workflows WHERE workflow_id = 3001")).scalar() is True
    assert (
        commit(engine, "UPDATE workflows SET strict = false WHERE workflow_id = 5401", ENTRY_AT_B[0]) is None
    )
    assert entry_points(engine) == []
    error = commit(engine, "UPDATE workflows SET strict = true WHERE workflow_id = 5401")  # it is invalid now
    assert error is not None and error.orig.pgcode == STRICT_REFUSED  # type: ignore[union-attr]
    assert commit(engine, ENTRY_AT_B[1].replace("strict_b", "strict_a")) is None
