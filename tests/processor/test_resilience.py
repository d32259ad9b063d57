"""GuardedActor: retries as configured, every attempt admitted and settled by the database."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from turing_db.actors import CIRCUIT_OPEN, ERROR, TIMEOUT, ActorSpec, Outcome, Task
from turing_db.actors.base import FATAL, RATE_LIMITED
from turing_db.resilience import GuardedActor, backoff_seconds, is_guarded

TASK = Task(posting_id=1, prompt="a prompt of some forty characters, more or less")


class Scripted:
    """A test actor: gives the scripted outcomes in order, and notes when it was called."""

    name = "test_scripted"

    def __init__(self, *outcomes: Outcome):
        self.outcomes = list(outcomes)
        self.calls: list[float] = []

    def execute(self, task: Task) -> Outcome:
        self.calls.append(time.monotonic())
        return self.outcomes.pop(0)


RETRYABLE_ERROR = Outcome(sentinel=ERROR, error_kind="http_503", http_status=503, prompt_tokens=3)
OK = Outcome(output="fine", prompt_tokens=10, completion_tokens=2)


@pytest.fixture
def actor_row(engine: Engine) -> Iterator[int]:
    with engine.begin() as conn:
        actor_id = conn.execute(
            text("INSERT INTO actors (actor_name, actor_type, config) VALUES ('test_scripted', 'python', "
                 "'{\"callable\": \"sample_actors:echo\"}') RETURNING actor_id")
        ).scalar_one()  # fmt: skip
    yield actor_id
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM actor_calls WHERE actor_id = :id"), {"id": actor_id})
        conn.execute(text("DELETE FROM actors WHERE actor_id = :id"), {"id": actor_id})


def guarded(engine: Engine, actor_id: int, inner: Scripted, **policy: dict) -> GuardedActor:
    """The actor row configured with `policy`, and the GuardedActor a chunk of it would run."""
    with engine.begin() as conn:  # the policy as claim_chunk_v2() hands it over
        full = conn.execute(
            text("UPDATE actors SET config = config || CAST(:config AS jsonb) WHERE actor_id = :id "
                 "RETURNING actor_policy(config)"), {"config": json.dumps(policy), "id": actor_id}
        ).scalar_one()  # fmt: skip
    spec = ActorSpec("test_scripted", "python", dict(policy), 5, None, actor_id, full)
    return GuardedActor(inner, spec, engine, "w1", run_id=1, conversation_id=1, rng=random.Random(7))


def logged_attempts(engine: Engine, actor_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            text("SELECT attempt, error_kind, http_status, prompt_tokens FROM actor_calls WHERE actor_id = :id "
                 "ORDER BY actor_call_id"), {"id": actor_id})]  # fmt: skip


def test_retryable_failures_are_retried_after_a_backoff_and_each_attempt_is_logged(
    engine: Engine, actor_row: int
) -> None:
    inner = Scripted(RETRYABLE_ERROR, RETRYABLE_ERROR, OK)
    actor = guarded(
        engine, actor_row, inner, retry={"max_attempts": 3, "base_seconds": 0.1, "cap_seconds": 1}
    )
    outcome = actor.execute(TASK)
    assert outcome.ok and outcome.attempt == 3
    gaps = [later - earlier for earlier, later in zip(inner.calls, inner.calls[1:], strict=False)]
    assert all(gap < 0.1 * 2**n + 0.15 for n, gap in enumerate(gaps)), gaps  # full jitter, capped
    # the two failed attempts are logged as they are settled; the last goes with the posting's result
    assert logged_attempts(engine, actor_row) == [(1, "http_503", 503, 3), (2, "http_503", 503, 3)]


def test_fatal_outcomes_are_not_retried(engine: Engine, actor_row: int) -> None:
    fatal = Outcome(sentinel=ERROR, error_kind="http_404", http_status=404, failed_as=FATAL)
    inner = Scripted(fatal, OK)
    outcome = guarded(engine, actor_row, inner).execute(TASK)
    assert (outcome.error_kind, outcome.attempt, len(inner.calls)) == ("http_404", 1, 1)
    assert logged_attempts(engine, actor_row) == []


def test_retry_after_is_honoured_up_to_the_cap_and_a_longer_one_ends_the_attempts(
    engine: Engine, actor_row: int
) -> None:
    limited = Outcome(sentinel=ERROR, error_kind="rate_limited", http_status=429, retry_after=0.4,
                      failed_as=RATE_LIMITED)  # fmt: skip
    inner = Scripted(limited, OK)
    actor = guarded(engine, actor_row, inner, retry={"base_seconds": 0.01, "cap_seconds": 1})
    assert actor.execute(TASK).ok
    assert 0.4 <= inner.calls[1] - inner.calls[0] < 0.6
    too_long = Scripted(
        Outcome(sentinel=ERROR, error_kind="rate_limited", retry_after=5, failed_as=RATE_LIMITED)
    )
    actor = guarded(engine, actor_row, too_long, retry={"cap_seconds": 1})
    started = time.monotonic()
    assert actor.execute(TASK).error_kind == "rate_limited"
    assert time.monotonic() - started < 0.5 and len(too_long.calls) == 1


def test_an_open_breaker_answers_circuit_open_without_calling(engine: Engine, actor_row: int) -> None:
    timeout = Outcome(sentinel=TIMEOUT, error_kind="timeout")
    inner = Scripted(*[timeout] * 2)
    breaker = {"failure_threshold": 2, "reset_seconds": 60}
    actor = guarded(
        engine, actor_row, inner, retry={"max_attempts": 2, "base_seconds": 0.01}, breaker=breaker
    )
    assert actor.execute(TASK).sentinel == TIMEOUT  # two attempts, two failures: the breaker opens
    refused = actor.execute(TASK)
    assert (refused.sentinel, refused.error_kind, len(inner.calls)) == (CIRCUIT_OPEN, "circuit_open", 2)
    assert "open" in (refused.error_message or "")


def test_full_jitter_stays_within_its_bounds() -> None:
    rng = random.Random(3)
    for attempt, bound in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (9, 30.0)):
        samples = [backoff_seconds(attempt, 1.0, 30.0, rng) for _ in range(2000)]
        assert 0 <= min(samples) and max(samples) <= bound
        assert bound * 0.4 < sum(samples) / len(samples) < bound * 0.6  # uniform: the mean is half


def test_which_actors_are_guarded() -> None:
    assert is_guarded(ActorSpec("a", "openai")) and is_guarded(ActorSpec("a", "ollama"))
    assert not is_guarded(ActorSpec("a", "python", {"callable": "m:f"}))
    assert is_guarded(ActorSpec("a", "python", {"callable": "m:f", "retry": {"max_attempts": 2}}))
    assert is_guarded(ActorSpec("a", "shell", {"command": ["cat"]}, max_concurrency=2))
