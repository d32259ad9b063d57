"""Actors execute one conversation for one posting: prompt in, output (or an error sentinel) out.

An actor is built from its `actors` row (type and config) and called with a `Task`; it never raises:
every failure becomes an `Outcome` with a sentinel ([ERROR], [TIMEOUT], [FAILED], [CIRCUIT_OPEN])
that the branches in SQL route. New actor types (the HTTP LLM actors) register a builder in
`BUILDERS`; the runner does not change.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

ERROR = "[ERROR]"
TIMEOUT = "[TIMEOUT]"
FAILED = "[FAILED]"
CIRCUIT_OPEN = "[CIRCUIT_OPEN]"


@dataclass(frozen=True)
class Task:
    """What an actor gets: the rendered prompt, the posting's fields and where it is in the run."""

    posting_id: int
    prompt: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What an actor gives back: an output, or a sentinel with the kind and message of the error."""

    output: str = ""
    sentinel: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error_kind: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.sentinel is None


class Actor(Protocol):
    name: str

    def execute(self, task: Task) -> Outcome: ...


class ActorConfigError(Exception):
    """The actor's config cannot be used (validate_workflow reports the same in SQL)."""


def failure(sentinel: str, kind: str, message: str, started: float) -> Outcome:
    return Outcome(
        sentinel=sentinel, error_kind=kind, error_message=message[:500], latency_ms=elapsed_ms(started)
    )


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# -- python: a module:function callable --------------------------------------------------------------


class PythonActor:
    """Calls `module:function(prompt, context)` in the calling thread and expects text back.

    The deadline is kept by the caller (turing_db.execution): Python cannot stop a running function,
    so a callable that overruns is reported as [TIMEOUT] there and finishes in the background.
    """

    def __init__(self, name: str, config: dict[str, Any], timeout: float):
        self.name = name
        target = str(config.get("callable", ""))
        module_name, _, function_name = target.partition(":")
        try:
            self.function: Callable[..., Any] = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ActorConfigError(f"actor {name}: cannot import callable {target!r}: {exc}") from exc

    def execute(self, task: Task) -> Outcome:
        started = time.perf_counter()
        try:
            result = self.function(task.prompt, task.context)
        except Exception as exc:  # an actor's failure is an outcome, never a crash of the runner
            return failure(ERROR, type(exc).__name__, str(exc) or type(exc).__name__, started)
        if not isinstance(result, str):
            return failure(
                FAILED, "not_text", f"{self.name} returned {type(result).__name__}, not text", started
            )
        return Outcome(output=result, latency_ms=elapsed_ms(started))


# -- shell: an argv list, prompt on stdin, output from stdout ----------------------------------------


class ShellActor:
    """Runs a command (no shell), writes the prompt to its stdin and reads the output from stdout.

    The command runs in its own process group; on timeout the whole group is killed, children
    included. A non-zero exit status is [ERROR] with the end of stderr as the message.
    """

    def __init__(self, name: str, config: dict[str, Any], timeout: float):
        command = config.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
            raise ActorConfigError(f"actor {name}: config.command must be a non-empty list of strings")
        self.name = name
        self.command = command
        self.timeout = timeout

    def execute(self, task: Task) -> Outcome:
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                env={**os.environ, "TURING_POSTING_ID": str(task.posting_id)},
            )
        except OSError as exc:
            return failure(ERROR, "spawn_failed", f"cannot run {self.command[0]}: {exc}", started)
        try:
            stdout, stderr = process.communicate(task.prompt.encode(), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            kill_group(process)
            return failure(TIMEOUT, "timeout", f"{self.name} took longer than {self.timeout:g} s", started)
        except BaseException:
            kill_group(process)
            raise
        if process.returncode != 0:
            tail = stderr.decode(errors="replace").strip()[-400:]
            return failure(
                ERROR, f"exit_{process.returncode}", tail or f"exit status {process.returncode}", started
            )
        return Outcome(output=stdout.decode(errors="replace"), latency_ms=elapsed_ms(started))


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill a process and everything it started (it leads its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()


# -- the registry ------------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[str, dict[str, Any], float], Actor]] = {
    "python": PythonActor,
    "shell": ShellActor,
}


class UnavailableActor:
    """Stands in for an actor that cannot be built: every task fails with the reason."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason

    def execute(self, task: Task) -> Outcome:
        return Outcome(sentinel=ERROR, error_kind="actor_unavailable", error_message=self.reason)


def build_actor(name: str, actor_type: str, config: dict[str, Any], timeout: float) -> Actor:
    builder = BUILDERS.get(actor_type)
    if builder is None:
        return UnavailableActor(name, f"actor type {actor_type!r} is not available in this version")
    try:
        return builder(name, config, timeout)
    except ActorConfigError as exc:
        return UnavailableActor(name, str(exc))
