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

# What a failed call means for the next one (turing_db.resilience acts on it; see Outcome.failure_class)
RETRYABLE = "retryable"  # try again after a backoff; counts against the circuit breaker
RATE_LIMITED = "rate_limited"  # HTTP 429: back off (Retry-After); not a breaker failure by default
FATAL = "fatal"  # a retry would fail the same way (4xx, invalid output): not retried, ignored by the breaker


@dataclass(frozen=True)
class ActorSpec:
    """An actor as its `actors` row defines it, as claim_chunk_v2() returns it once per chunk."""

    actor_name: str
    actor_type: str
    config: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: float = 30.0
    max_concurrency: int | None = None
    actor_id: int | None = None
    policy: dict[str, Any] = field(default_factory=dict)  # actor_policy(config): retry, breaker, rate_limit


@dataclass(frozen=True)
class Task:
    """What an actor gets: the rendered prompt, the posting's fields and where it is in the run."""

    posting_id: int
    prompt: str
    context: dict[str, Any] = field(default_factory=dict)
    endpoint: str | None = None  # the server the database chose for this call (several per actor)


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
    http_status: int | None = None  # the HTTP status of the call, for HTTP actors
    retry_after: float | None = None  # seconds the server asked to wait (Retry-After), if it did
    load_ms: float | None = None  # the server's model load time (Ollama's load_duration)
    failed_as: str | None = None  # RETRYABLE, RATE_LIMITED or FATAL; None: derived from the sentinel
    attempt: int = 1  # which attempt this was (turing_db.resilience retries)
    defer_seconds: float | None = None  # not a result: claim the posting again no sooner than this
    cached: bool = False  # answered from response_cache: no server was asked, no tokens spent

    @property
    def ok(self) -> bool:
        return self.sentinel is None

    @property
    def failure_class(self) -> str | None:
        """None for a success; else RETRYABLE, RATE_LIMITED or FATAL. Unless the actor said, a timeout
        or an error is retryable and an unusable output ([FAILED]) or an open breaker is fatal."""
        if self.ok:
            return None
        if self.failed_as is not None:
            return self.failed_as
        return RETRYABLE if self.sentinel in (ERROR, TIMEOUT) else FATAL


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
