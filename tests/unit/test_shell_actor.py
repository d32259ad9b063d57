"""The shell actor's commands die with their worker, see a minimal environment and leak no secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from turing_db.actors import ERROR, ActorSpec, Outcome, Task, UnavailableActor, build_actor
from turing_db.actors.shell import BASE_ENVIRONMENT, ENV_RULE, SECRET_ENV_RULE, kill_all_running
from turing_db.redaction import known_secrets, redact

PROJECT_DIR = Path(__file__).resolve().parents[2]
TASK = Task(posting_id=7, prompt="")
CANARIES = {
    "TURING_DB_PASSWORD": "canary-db-password-5e1f",
    "OPENAI_API_KEY": "canary-openai-key-77a0",
    "TURING_DATABASE_URL": "postgresql://turing:canary-url-p%40ss@db.example:5432/turing",
}


def is_gone(pid: int) -> bool:
    """The process has ended: reaped, or a zombie nobody reaps (PID 1 in a container may not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_gone(*pids: int, seconds: float = 5.0) -> list[int]:
    """The pids still alive after `seconds` (killed on the way out, so no test leaves a process)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(is_gone(pid) for pid in pids):
        time.sleep(0.05)
    alive = [pid for pid in pids if not is_gone(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    return alive


def read_pids(*files: Path, seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        texts = [f.read_text().strip() if f.exists() else "" for f in files]
        if all(t.isdigit() for t in texts):
            return [int(t) for t in texts]
        time.sleep(0.02)
    raise AssertionError(f"the command did not write {[f.name for f in files]}")


def start_worker(tmp_path: Path, command: list[str], ending: str) -> subprocess.Popen[bytes]:
    """A worker process that executes one shell task on a thread; `ending` is what its main thread
    does next (wait for it, or exit at once while it runs)."""
    script = "\n".join([
        "import sys, threading",
        "from turing_db.actors import ActorSpec, Task, build_actor",
        f"actor = build_actor(ActorSpec('s', 'shell', {{'command': {command!r}}}, 120))",
        "thread = threading.Thread(target=actor.execute, args=(Task(1, ''),), daemon=True)",
        "thread.start()",
        ending,
    ])  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env)


@pytest.fixture
def worker_commands(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    workers: list[subprocess.Popen[bytes]] = []
    yield workers
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
        worker.wait()


@pytest.mark.slow
def test_kill_9_of_the_worker_kills_its_command_and_the_commands_children(
    tmp_path: Path, worker_commands: list[subprocess.Popen[bytes]]
) -> None:
    """The reaper kills the whole group once the worker is gone, although a thread forked the command
    (the parent-death signal alone would reach the command, not its background child)."""
    pid_file, child_file = tmp_path / "command.pid", tmp_path / "child.pid"
    command = ["sh", "-c", f"sleep 60 & echo $! > {child_file}; echo $$ > {pid_file}; wait"]
    worker = start_worker(tmp_path, command, "thread.join()")
    worker_commands.append(worker)
    pids = read_pids(pid_file, child_file)
    time.sleep(0.1)
    assert not any(is_gone(pid) for pid in pids) and worker.poll() is None
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert wait_gone(*pids) == [], "the command or its child outlived its kill -9'd worker"


@pytest.mark.slow
def test_a_worker_that_exits_kills_its_commands_and_their_children(
    tmp_path: Path, worker_commands: list[subprocess.Popen[bytes]]
) -> None:
    """atexit runs kill_all_running(): the whole group goes, grandchildren included."""
    pid_file, child_file = tmp_path / "command.pid", tmp_path / "child.pid"
    command = ["sh", "-c", f"sleep 60 & echo $! > {child_file}; echo $$ > {pid_file}; wait"]
    ready = tmp_path / "ready"
    ending = f"import os, time\nwhile not os.path.exists({str(ready)!r}): time.sleep(0.02)\nsys.exit(0)"
    worker = start_worker(tmp_path, command, ending)
    worker_commands.append(worker)
    pids = read_pids(pid_file, child_file)
    ready.touch()
    assert worker.wait(timeout=10) == 0
    assert wait_gone(*pids) == [], "a command or its child outlived the worker that exited"


def run_on_a_thread(command: list[str], config: dict | None = None) -> tuple[threading.Thread, list[Outcome]]:
    actor = build_actor(ActorSpec("s", "shell", {"command": command, **(config or {})}, 120))
    outcomes: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(actor.execute(TASK)), daemon=True)
    thread.start()
    return thread, outcomes


def test_kill_all_running_kills_every_command_group_with_its_children(tmp_path: Path) -> None:
    pid_file, child_file = tmp_path / "command.pid", tmp_path / "child.pid"
    thread, outcomes = run_on_a_thread(
        ["sh", "-c", f"sleep 60 & echo $! > {child_file}; echo $$ > {pid_file}; wait"]
    )
    pids = read_pids(pid_file, child_file)
    assert kill_all_running() == 1
    thread.join(timeout=5)
    assert wait_gone(*pids) == [], "kill_all_running() left a command or its child running"
    assert (outcomes[0].sentinel, outcomes[0].error_kind) == (ERROR, "exit_-9")
    assert kill_all_running() == 0  # the finished command is forgotten


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PGPASSWORD", "canary-pgpassword-0c3d")
    return {**CANARIES, "PGPASSWORD": "canary-pgpassword-0c3d"}


def test_the_command_sees_only_the_base_environment_and_config_env(
    canaries: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TURING_TEST_PASSED", "passed through")
    monkeypatch.setenv("TURING_TEST_UNLISTED", "not listed")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("TZ", raising=False)
    actor = build_actor(
        ActorSpec("s", "shell", {"command": ["env"], "env": ["TURING_TEST_PASSED", "TURING_TEST_UNSET"]}, 5)
    )
    outcome = actor.execute(TASK)
    assert outcome.ok, outcome.error_message
    assert "canary" not in outcome.output
    seen = dict(line.split("=", 1) for line in outcome.output.splitlines())
    base = {name: os.environ[name] for name in BASE_ENVIRONMENT if name in os.environ}
    assert seen == {**base, "TURING_TEST_PASSED": "passed through", "TURING_POSTING_ID": "7"}
    assert "LANG" in seen and "TZ" not in seen


def test_an_error_message_is_redacted_of_secrets(canaries: dict[str, str]) -> None:
    leak = " ".join(["connect failed:", *canaries.values()])
    command = ["sh", "-c", 'echo "$1" >&2; exit 2', "sh", leak]  # the secrets are in its argv, not its env
    outcome = build_actor(ActorSpec("s", "shell", {"command": command}, 5)).execute(TASK)
    assert (outcome.sentinel, outcome.error_kind) == (ERROR, "exit_2")
    message = outcome.error_message or ""
    assert message.startswith("connect failed: ***") and "canary" not in message


def test_a_secret_cut_by_the_stderr_tail_is_still_redacted(canaries: dict[str, str]) -> None:
    """The message is the last 400 characters of stderr: redacted before it is cut, no half secret."""
    secret = canaries["OPENAI_API_KEY"]
    leak = secret + "." * (400 - len(secret) // 2)
    command = ["sh", "-c", 'printf %s "$1" >&2; exit 1', "sh", leak]
    outcome = build_actor(ActorSpec("s", "shell", {"command": command}, 5)).execute(TASK)
    assert outcome.error_message == "***" + "." * (400 - len(secret) // 2)


def test_known_secrets_are_the_database_password_and_secret_named_variables() -> None:
    environ = {
        "TURING_DATABASE_URL": "postgresql://turing:p%40ss-word@db.example/turing",
        "TURING_DB_PASSWORD": "pw",  # short, but a database password all the same
        "OPENAI_API_KEY": "sk-0123456789",
        "GITHUB_TOKEN": "short",  # under 6 characters: too common a string to mask
        "MY_SECRET": "s3cret!",
        "TURING_DB_HOST": "db.example",
    }
    assert known_secrets(environ) == {"p@ss-word", "p%40ss-word", "pw", "sk-0123456789", "s3cret!"}
    assert known_secrets({"TURING_DATABASE_URL": "not a url"}) == frozenset()


def test_redact_masks_every_occurrence_and_leaves_other_text(canaries: dict[str, str]) -> None:
    password = "canary-url-p%40ss"
    text = f"url postgresql://turing:{password}@db.example and again canary-url-p@ss; all fine"
    assert redact(text) == "url postgresql://turing:***@db.example and again ***; all fine"
    assert redact("nothing to hide here") == "nothing to hide here"


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (["OLLAMA_HOST", "my_var", "_X1"], None),
        ([], None),
        ("OLLAMA_HOST", ENV_RULE),
        (["OLLAMA_HOST", 1], ENV_RULE),
        (["1ABC"], ENV_RULE),
        (["BAD-NAME"], ENV_RULE),
        ([""], ENV_RULE),
        (["A\n"], ENV_RULE),
        (None, ENV_RULE),
        (["TURING_DATABASE_URL"], f"{SECRET_ENV_RULE}: TURING_DATABASE_URL"),
        (["PATH", "PGPASSWORD", "OPENAI_API_KEY"], f"{SECRET_ENV_RULE}: PGPASSWORD, OPENAI_API_KEY"),
        (
            ["GITHUB_TOKEN", "my_secret", "DB_PASSWORD"],
            f"{SECRET_ENV_RULE}: GITHUB_TOKEN, my_secret, DB_PASSWORD",
        ),
        (["TURING_DB_PASSWORD"], f"{SECRET_ENV_RULE}: TURING_DB_PASSWORD"),
    ],
)
def test_config_env_must_name_variables_and_no_secrets(env: object, problem: str | None) -> None:
    actor = build_actor(ActorSpec("s", "shell", {"command": ["cat"], "env": env}, 5))
    reason = actor.reason if isinstance(actor, UnavailableActor) else None
    assert reason == (f"actor s: {problem}" if problem else None)


def test_config_rules_exact_text_and_both_problems_at_once() -> None:
    assert ENV_RULE == (
        "config.env must be a list of environment variable names (letters, digits and _, not starting "
        'with a digit), e.g. {"env": ["OLLAMA_HOST"]}'
    )
    assert SECRET_ENV_RULE == (
        "config.env must not pass secrets to a command (TURING_DATABASE_URL, TURING_DB_PASSWORD, "
        "PGPASSWORD, or a name containing KEY, TOKEN, SECRET or PASSWORD)"
    )
    actor = build_actor(ActorSpec("s", "shell", {"command": [], "env": "X"}, 5))
    assert isinstance(actor, UnavailableActor)
    assert actor.reason.endswith(f"; {ENV_RULE}") and "config.command must be" in actor.reason


def test_a_command_that_writes_without_end_is_stopped_at_the_read_cap() -> None:
    """`yes` never stops writing: without the cap, the worker would read until memory ran out."""
    from turing_db.actors.shell import MAX_READ_BYTES

    actor = build_actor(ActorSpec("s", "shell", {"command": ["yes", "a line of output"]}, 60))
    started = time.monotonic()
    outcome = actor.execute(Task(posting_id=1, prompt=""))
    assert (outcome.sentinel, outcome.error_kind) == ("[FAILED]", "output_too_large")
    assert str(MAX_READ_BYTES) in (outcome.error_message or "") and time.monotonic() - started < 30


def test_a_large_prompt_and_a_large_answer_pass_through_the_pipes_without_a_stall() -> None:
    """Both pipes at once, each far over a pipe buffer (64 KiB): fed and drained together."""
    actor = build_actor(ActorSpec("s", "shell", {"command": ["cat"]}, 60))
    prompt = "0123456789abcdef" * (512 * 1024)  # 8 MiB
    outcome = actor.execute(Task(posting_id=1, prompt=prompt))
    assert outcome.sentinel is None and outcome.output == prompt
