"""What every actor shares: the task it is given, the outcome it returns, and the engine's sentinels.

An actor executes one conversation for one posting: prompt in, output (or an error sentinel) out. It
never raises: every failure becomes an `Outcome` whose sentinel the branches in SQL route. The
sentinels are listed once in SQL (the function `engine_sentinels()`); `SENTINELS` is tested equal to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

ERROR = "[ERROR]"  # the actor raised, exited non-zero, or could not be built
TIMEOUT = "[TIMEOUT]"  # the actor overran its timeout
FAILED = "[FAILED]"  # the actor's output is unusable (not text, or refused by the stage column)
CIRCUIT_OPEN = "[CIRCUIT_OPEN]"  # the actor's circuit breaker is open: it was not called
LOOP_LIMIT = "[LOOP_LIMIT]"  # set by complete_chunk(): the chosen branch leads into a spent loop
SENTINELS = (ERROR, TIMEOUT, FAILED, CIRCUIT_OPEN, LOOP_LIMIT)


@dataclass(frozen=True)
class ActorSpec:
    """An actor as its `actors` row defines it, as claim_chunk_v2() returns it once per chunk."""

    actor_name: str
    actor_type: str
    config: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: float = 30.0
    max_concurrency: int | None = None
    actor_id: int | None = None


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
    """The actor's config cannot be used; validate_workflow() reports the same rule in SQL
    (tests/integration/test_actor_config_rules.py holds the cases both must agree on)."""


def failure(sentinel: str, kind: str, message: str, started: float) -> Outcome:
    return Outcome(
        sentinel=sentinel, error_kind=kind, error_message=message[:500], latency_ms=elapsed_ms(started)
    )


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
