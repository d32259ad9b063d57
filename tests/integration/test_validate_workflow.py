"""validate_workflow(): one minimal broken workflow per check, named by the check it must trip."""

from sqlalchemy import text
from sqlalchemy.engine import Connection
from workflows import Step, build_workflow, findings, messages

W = 5001  # the test workflow's id


def sql(conn: Connection, statement: str, **params: object) -> None:
    conn.execute(text(statement), params)


def test_reference_workflow_3001_is_valid(conn: Connection) -> None:
    assert findings(conn, 3001) == []
    verdict = conn.execute(text("SELECT validate_workflow(3001)")).scalar_one()
    assert "is valid: 7 steps, 3 entry point(s), 0 warning(s)" in verdict


def test_minimal_workflow_is_valid(conn: Connection) -> None:
    build_workflow(conn, W, [Step("only", entry=True)], [("only", "*", None)])
    assert findings(conn, W) == []


def test_bounded_retry_loop_is_valid(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("draft", entry=True, max_visits=3), Step("judge", template="{output:draft}"), Step("keep")],
        [("draft", "*", "judge"), ("judge", "PASS", "keep", 10), ("judge", "*", "draft", 20),
         ("judge", "[LOOP_LIMIT]", None, 5), ("keep", "*", None)],
    )  # fmt: skip
    assert findings(conn, W) == []


def test_missing_workflow(conn: Connection) -> None:
    assert findings(conn, 424242) == [("error", "workflow_missing", None)]


def test_disabled_workflow(conn: Connection) -> None:
    build_workflow(conn, W, [Step("only", entry=True)], [("only", "*", None)])
    sql(conn, "UPDATE workflows SET enabled = false WHERE workflow_id = :w", w=W)
    assert findings(conn, W) == [("error", "workflow_disabled", None)]


def test_workflow_without_enabled_conversations(conn: Connection) -> None:
    build_workflow(conn, W, [Step("only", entry=True)], [("only", "*", None)])
    sql(conn, "UPDATE workflow_conversations SET enabled = false WHERE workflow_id = :w", w=W)
    assert findings(conn, W) == [("error", "no_conversations", None)]


def test_conversation_without_actor(conn: Connection) -> None:
    build_workflow(conn, W, [Step("only", entry=True)], [("only", "*", None)])
    sql(conn, "UPDATE conversations SET actor_id = NULL WHERE canonical_name = 'only'")
    assert findings(conn, W) == [("error", "actor_missing", "only")]


def test_disabled_actor(conn: Connection) -> None:
    build_workflow(conn, W, [Step("only", entry=True, actor="test_shell")], [("only", "*", None)])
    sql(conn, "UPDATE actors SET enabled = false WHERE actor_name = 'test_shell'")
    assert findings(conn, W) == [("error", "actor_disabled", "only")]


def test_malformed_actor_configs(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [
            Step("llm", entry=True, actor="test_ollama"),
            Step("py", actor="test_python"),
            Step("sh", actor="test_shell"),
        ],
        [("llm", "*", "py"), ("py", "*", "sh"), ("sh", "*", None)],
    )
    sql(conn, """
        UPDATE actors SET config = '{"url": "http://127.0.0.1:11434"}' WHERE actor_name = 'test_ollama';
        UPDATE actors SET config = '{"callable": "no colon here"}' WHERE actor_name = 'test_python';
        UPDATE actors SET config = '{"command": "cat"}' WHERE actor_name = 'test_shell';
    """)  # fmt: skip
    assert findings(conn, W) == [("error", "actor_config", "llm"), ("error", "actor_config", "py"),
                                 ("error", "actor_config", "sh")]  # fmt: skip
    assert any("config.model must name a model" in m for m in messages(conn, W))


def test_instruction_missing_ambiguous_and_empty(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("none", entry=True), Step("two"), Step("blank", template="  ")],
        [("none", "*", "two"), ("two", "*", "blank"), ("blank", "*", None)],
    )
    sql(conn, """
        UPDATE instructions SET enabled = false
         WHERE conversation_id = (SELECT conversation_id FROM conversations WHERE canonical_name = 'none');
        INSERT INTO instructions (conversation_id, prompt_template)
        SELECT conversation_id, 'Again {job_title}' FROM conversations WHERE canonical_name = 'two';
    """)  # fmt: skip
    result = findings(conn, W)
    assert ("error", "instruction_missing", "none") in result
    assert ("error", "instruction_ambiguous", "two") in result
    assert ("error", "instruction_empty", "blank") in result


def test_branch_to_a_conversation_outside_the_workflow_or_disabled(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("start", entry=True), Step("off")],
        [("start", "OTHER", "extract_summary", 10), ("start", "*", "off", 20), ("off", "*", None)],
    )
    sql(conn, "UPDATE conversations SET enabled = false WHERE canonical_name = 'off'")
    result = findings(conn, W)
    assert result.count(("error", "branch_target", "start")) == 2
    text_of_all = " ".join(messages(conn, W))
    assert f"is not part of workflow {W}" in text_of_all and "is disabled" in text_of_all


def test_no_entry_point(conn: Connection) -> None:
    build_workflow(conn, W, [Step("only")], [("only", "*", None)])
    assert findings(conn, W) == [("error", "entry_point_missing", None)]


def test_stage_without_entry_point(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("summarise", entry="summary"), Step("skills", entry="skills")],
        [("summarise", "*", "skills"), ("skills", "*", None)],
    )
    assert findings(conn, W) == [("error", "stage_entry", None)]
    assert messages(conn, W)[0].startswith("postings lacking score have no entry point")


def test_stage_with_two_entry_points(conn: Connection) -> None:
    build_workflow(
        conn, W, [Step("a", entry=True), Step("b", entry=True)], [("a", "*", None), ("b", "*", None)]
    )
    assert findings(conn, W) == [("error", "stage_entry", None)] * 3  # summary, skills and score


def test_unreachable_conversation(conn: Connection) -> None:
    build_workflow(
        conn, W, [Step("start", entry=True), Step("island")], [("start", "*", None), ("island", "*", None)]
    )
    assert findings(conn, W) == [("error", "unreachable", "island")]


def test_dead_end_without_branches(conn: Connection) -> None:
    build_workflow(conn, W, [Step("start", entry=True), Step("stop")], [("start", "*", "stop")])
    assert findings(conn, W) == [("error", "dead_end", "start"), ("error", "dead_end", "stop")]


def test_self_loop_without_exit(conn: Connection) -> None:
    build_workflow(conn, W, [Step("spin", entry=True, max_visits=3)], [("spin", "*", "spin")])
    assert findings(conn, W) == [("error", "cycle_without_exit", "spin")]


def test_longer_cycle_without_exit(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("a", entry=True), Step("b"), Step("c")],
        [("a", "*", "b"), ("b", "*", "c"), ("c", "*", "b")],
    )
    result = findings(conn, W)
    assert ("error", "cycle_without_exit", "b") in result and ("error", "cycle_without_exit", "c") in result
    assert ("error", "dead_end", "a") in result  # it leads only into the cycle


def test_unbounded_loop_is_a_warning(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("draft", entry=True), Step("judge")],
        [("draft", "*", "judge"), ("judge", "PASS", None, 10), ("judge", "*", "draft", 20)],
    )
    assert findings(conn, W) == [("warning", "unbounded_loop", "draft")]


def test_missing_fallback_branch_is_a_warning(conn: Connection) -> None:
    build_workflow(conn, W, [Step("judge", entry=True)], [("judge", "PASS", None), ("judge", "FAIL", None)])
    assert findings(conn, W) == [("warning", "no_fallback_branch", "judge")]


def test_error_outcomes_with_nowhere_to_go(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("llm", entry=True, actor="test_ollama"), Step("py")],
        [("llm", "*", "py"), ("llm", "[ERROR]", None), ("py", "*", None), ("py", "[ERROR]", None),
         ("py", "[TIMEOUT]", None), ("py", "[FAILED]", None)],
    )  # fmt: skip
    assert findings(conn, W) == []  # the global error handler catches what no branch does
    sql(conn, "UPDATE conversations SET enabled = false WHERE conversation_type = 'error_handler'")
    assert findings(conn, W) == [("error", "error_unhandled", "llm")]
    assert "[CIRCUIT_OPEN], [FAILED], [TIMEOUT]" in messages(conn, W)[0]


def test_duplicate_condition(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("judge", entry=True)],
        [("judge", "PASS", None, 10), ("judge", "PASS", None, 20), ("judge", "*", None, 30)],  # fmt: skip
    )
    assert findings(conn, W) == [("error", "duplicate_condition", "judge")]


def test_condition_shadowed_by_a_more_general_one(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("judge", entry=True)],
        [("judge", "PASS", None, 10), ("judge", "PASS WITH NOTES", None, 20), ("judge", "*", None, 30),
         ("judge", "FAIL", None, 40), ("judge", "[ERROR]", None, 50)],
    )  # fmt: skip
    assert findings(conn, W) == [("error", "shadowed_condition", "judge")] * 2


def test_unknown_sentinel_is_a_warning(conn: Connection) -> None:
    build_workflow(conn, W, [Step("a", entry=True)], [("a", "[TIMOUT]", None, 10), ("a", "*", None, 20)])
    assert findings(conn, W) == [("warning", "unknown_sentinel", "a")]


def test_malformed_and_unknown_placeholders(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("a", entry=True, template="Title {job_title} {salary} {{literal}} {Bad} }")],
        [("a", "*", None)],
    )
    assert findings(conn, W) == [("error", "malformed_placeholder", "a"), ("error", "malformed_placeholder", "a"),
                                 ("error", "unknown_placeholder", "a")]  # fmt: skip


def test_output_of_a_conversation_outside_the_workflow(conn: Connection) -> None:
    build_workflow(conn, W, [Step("a", entry=True, template="{output:extract_summary}")], [("a", "*", None)])
    assert findings(conn, W) == [("error", "unknown_output", "a")]


def test_output_that_runs_only_on_some_paths_is_a_warning(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("start", entry=True), Step("maybe"), Step("use", template="{output:maybe}")],
        [("start", "YES", "maybe", 10), ("start", "*", "use", 20), ("maybe", "*", "use"), ("use", "*", None)],
    )
    assert findings(conn, W) == [("warning", "output_on_some_paths", "use")]


def test_output_that_never_runs_before_is_an_error(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("first", entry=True, template="{output:second}"), Step("second")],
        [("first", "*", "second"), ("second", "*", None)],
    )
    assert findings(conn, W) == [("error", "output_never_before", "first")]


def test_many_faults_are_each_reported(conn: Connection) -> None:
    build_workflow(
        conn,
        W,
        [Step("start", entry=True, template="{nope} {output:later}"), Step("later", actor="test_shell"),
         Step("island"), Step("loop")],
        [("start", "X", "later", 10), ("start", "X", None, 20), ("start", "*", "extract_summary", 30),
         ("later", "*", "loop"), ("loop", "*", "loop"), ("island", "*", None)],
    )  # fmt: skip
    sql(conn, "UPDATE actors SET enabled = false WHERE actor_name = 'test_shell'")
    result = set(findings(conn, W))
    assert {
        ("error", "unknown_placeholder", "start"),
        ("error", "output_never_before", "start"),
        ("error", "duplicate_condition", "start"),
        ("error", "branch_target", "start"),
        ("error", "actor_disabled", "later"),
        ("error", "unreachable", "island"),
        ("error", "cycle_without_exit", "loop"),
        ("error", "dead_end", "later"),
    } <= result
    assert not any(
        message.startswith(f"workflow {W}") and "is valid" in message for message in messages(conn, W)
    )


def test_a_fallback_that_saves_another_stage_is_warned_of(conn: Connection) -> None:
    """A [CIRCUIT_OPEN] / [TIMEOUT] branch to a step with another actor is a fallback: it must save what
    the step it stands in for saves, or the postings that fall back lack that stage."""
    build_workflow(
        conn, 7802,
        [Step("t_big", entry=True), Step("t_small", actor="test_shell"), Step("t_same_actor")],
        [("t_big", "*", None), ("t_big", "[CIRCUIT_OPEN]", "t_small", 10), ("t_big", "[TIMEOUT]", "t_same_actor", 10),
         ("t_small", "*", None), ("t_same_actor", "*", None)],
    )  # fmt: skip
    conn.execute(
        text(
            "UPDATE conversations SET saves_stage = 'summary' WHERE canonical_name IN ('t_big', 't_same_actor')"
        )
    )
    assert findings(conn, 7802) == [("warning", "fallback_stage", "t_big")]
    assert (
        "conversation t_big falls back on [CIRCUIT_OPEN] to conversation t_small (actor test_shell), which saves "
        "no stage, not stage summary: a posting that falls back has no stage summary for the steps after it"
    ) in messages(conn, 7802)
    conn.execute(text("UPDATE conversations SET saves_stage = 'summary' WHERE canonical_name = 't_small'"))
    assert findings(conn, 7802) == []  # the same stage; a retry on the same actor is no fallback
