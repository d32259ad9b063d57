"""Actors turn every failure into an outcome: python callables and shell commands."""

import os
import time
from pathlib import Path

from turing_db.actors import ERROR, FAILED, TIMEOUT, ActorSpec, Task, build_actor

TASK = Task(posting_id=7, prompt="hello {world}", context={"posting_id": 7, "conversation": "c"})


def test_python_actor_returns_the_callables_text() -> None:
    outcome = build_actor(ActorSpec("a", "python", {"callable": "sample_actors:echo"}, 5)).execute(TASK)
    assert (outcome.ok, outcome.output) == (True, "hello {world}")
    assert outcome.latency_ms >= 0


def test_python_actor_exception_is_an_error_outcome() -> None:
    outcome = build_actor(ActorSpec("a", "python", {"callable": "sample_actors:fail"}, 5)).execute(TASK)
    assert (outcome.sentinel, outcome.error_kind, outcome.error_message) == (
        ERROR,
        "RuntimeError",
        "the actor broke",
    )


def test_python_actor_that_returns_no_text_failed() -> None:
    outcome = build_actor(ActorSpec("a", "python", {"callable": "sample_actors:not_text"}, 5)).execute(TASK)
    assert (outcome.sentinel, outcome.error_kind) == (FAILED, "not_text")


def test_unimportable_callable_fails_every_task_with_the_reason() -> None:
    outcome = build_actor(ActorSpec("a", "python", {"callable": "no_such_module:f"}, 5)).execute(TASK)
    assert outcome.sentinel == ERROR and outcome.error_kind == "actor_unavailable"
    assert "cannot import callable 'no_such_module:f'" in (outcome.error_message or "")


def test_unknown_actor_type_is_unavailable_not_a_crash() -> None:
    outcome = build_actor(ActorSpec("a", "carrier_pigeon", {}, 5)).execute(TASK)
    assert outcome.error_kind == "actor_unavailable"


def test_shell_actor_reads_the_prompt_on_stdin() -> None:
    outcome = build_actor(ActorSpec("s", "shell", {"command": ["tr", "a-z", "A-Z"]}, 5)).execute(TASK)
    assert (outcome.ok, outcome.output) == (True, "HELLO {WORLD}")


def test_shell_actor_nonzero_exit_is_an_error_with_stderr() -> None:
    outcome = build_actor(
        ActorSpec("s", "shell", {"command": ["sh", "-c", "echo broken >&2; exit 3"]}, 5)
    ).execute(TASK)
    assert (outcome.sentinel, outcome.error_kind, outcome.error_message) == (ERROR, "exit_3", "broken")


def test_shell_actor_timeout_kills_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    command = ["sh", "-c", f"sleep 30 & echo $! > {pid_file}; wait"]
    started = time.monotonic()
    outcome = build_actor(ActorSpec("s", "shell", {"command": command}, 0.5)).execute(TASK)
    assert outcome.sentinel == TIMEOUT and time.monotonic() - started < 5
    child = int(pid_file.read_text())
    for _ in range(50):  # the kill is asynchronous: give the kernel a moment to reap
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        time.sleep(0.05)
    else:
        os.kill(child, 9)
        raise AssertionError("the child of the timed-out command survived")


def test_missing_executable_is_an_error() -> None:
    outcome = build_actor(ActorSpec("s", "shell", {"command": ["/no/such/binary"]}, 5)).execute(TASK)
    assert (outcome.sentinel, outcome.error_kind) == (ERROR, "spawn_failed")
