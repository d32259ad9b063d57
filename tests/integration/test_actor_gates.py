"""actor_admit() / actor_settle(): one circuit breaker, concurrency cap and rate limit per actor, in SQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from turing_db import database
from turing_db.database import Admission

BREAKER = {"failure_threshold": 3, "window_seconds": 60, "reset_seconds": 1, "success_threshold": 2,
           "half_open_probes": 1}  # fmt: skip


class Gate:
    """An actor of its own, and short names for admitting and settling its calls."""

    def __init__(self, engine: Engine, actor_id: int):
        self.engine = engine
        self.actor_id = actor_id

    def configure(self, config: dict, max_concurrency: int | None = None, timeout: float = 30) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE actors SET config = CAST(:config AS jsonb), max_concurrency = :cap, "
                     "timeout_seconds = :timeout WHERE actor_id = :id"),
                {"config": json.dumps(config), "cap": max_concurrency, "timeout": timeout, "id": self.actor_id},
            )  # fmt: skip

    def admit(self, worker: str = "w1", tokens: int = 0) -> Admission:
        return database.actor_admit(self.engine, self.actor_id, worker, tokens)

    def call(self, outcome: str, worker: str = "w1", tokens: int | None = None) -> tuple[str, str | None]:
        """Admit one call (it must be let through) and settle it as `outcome`."""
        admission = self.admit(worker)
        assert admission.decision == "go", admission
        assert admission.permit_id is not None
        return database.actor_settle(self.engine, admission.permit_id, self.actor_id, outcome, tokens)

    def breaker(self) -> dict:
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT * FROM circuit_breakers WHERE actor_id = :id"), {"id": self.actor_id}
            ).mappings().one()  # fmt: skip
        return dict(row)

    def events(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT from_state, to_state FROM circuit_breaker_events WHERE actor_id = :id ORDER BY event_id"),
                {"id": self.actor_id},
            ).all()  # fmt: skip
        return [tuple(row) for row in rows]  # type: ignore[misc]


@pytest.fixture
def gate(engine: Engine) -> Iterator[Gate]:
    with engine.begin() as conn:
        actor_id = conn.execute(
            text("INSERT INTO actors (actor_name, actor_type, config) VALUES ('test_gate', 'openai', "
                 "CAST(:config AS jsonb)) RETURNING actor_id"),
            {"config": json.dumps({"model": "m", "base_url": "http://127.0.0.1:9/v1", "breaker": BREAKER})},
        ).scalar_one()  # fmt: skip
    yield Gate(engine, actor_id)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM actors WHERE actor_id = :id"), {"id": actor_id})


def test_retryable_failures_open_the_breaker_at_the_threshold_and_fatal_ones_are_ignored(gate: Gate) -> None:
    assert gate.call("retryable") == ("closed", None)
    for outcome in ("fatal", "rate_limited", "fatal"):  # a 4xx or a 429 is not the server failing
        assert gate.call(outcome) == ("closed", None)
    assert gate.call("retryable", worker="w2") == ("closed", None)  # another worker's failure counts too
    assert gate.call("retryable") == ("open", "closed")
    refused = gate.admit()
    assert (refused.decision, refused.state, refused.on_open) == ("open", "open", "fail")
    assert 0 < refused.wait_seconds <= 1
    view = gate.breaker()
    assert (view["state"], view["failures_in_window"], view["failure_threshold"]) == ("open", 3, 3)
    assert view["opened_at"] is not None and view["retry_at"] > view["opened_at"]
    assert gate.events() == [("closed", "open")]


def test_half_open_admits_exactly_the_probes_and_their_successes_close_it(gate: Gate) -> None:
    for _ in range(3):
        gate.call("retryable")
    time.sleep(1.1)  # reset_seconds, by the database clock
    assert gate.breaker()["state"] == "half_open"
    probe = gate.admit("w1")
    assert (probe.decision, probe.probe, probe.state) == ("go", True, "half_open")
    other = gate.admit("w2")  # half_open_probes = 1, across workers
    assert (other.decision, other.state) == ("open", "half_open")
    assert gate.breaker()["probes_in_flight"] == 1
    assert probe.permit_id is not None
    assert database.actor_settle(gate.engine, probe.permit_id, gate.actor_id, "ok", None) == (
        "half_open",
        None,
    )
    assert gate.call("ok", worker="w2") == ("closed", "half_open")  # success_threshold = 2
    assert gate.breaker()["failures_in_window"] == 0
    assert gate.events() == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_failed_probe_opens_it_again_and_a_reset_closes_it_by_hand(gate: Gate) -> None:
    for _ in range(3):
        gate.call("retryable")
    time.sleep(1.1)
    assert gate.call("retryable") == ("open", "half_open")
    assert gate.admit().decision == "open"
    assert database.reset_circuit_breaker(gate.engine, "test_gate") == "open"
    assert gate.breaker()["state"] == "closed"
    assert gate.call("ok") == ("closed", None)
    assert database.reset_circuit_breaker(gate.engine, "test_gate") is None  # closed already
    assert gate.events()[-1] == ("open", "closed")


def test_a_429_counts_against_the_breaker_only_when_the_config_says_so(gate: Gate) -> None:
    gate.configure({"breaker": {**BREAKER, "count_rate_limits": True}})
    for _ in range(2):
        gate.call("rate_limited")
    assert gate.call("rate_limited") == ("open", "closed")


def test_a_probe_whose_worker_died_frees_its_slot_when_its_lease_ends(gate: Gate) -> None:
    gate.configure({"breaker": BREAKER}, timeout=0.25)  # a permit's lease: twice the timeout plus 5 s
    for _ in range(3):
        gate.call("retryable")
    time.sleep(1.1)
    assert gate.admit("dead").decision == "go"  # ... and never settled
    assert gate.admit("w2").decision == "open"
    time.sleep(5.7)
    assert gate.admit("w2").decision == "go"


def test_max_concurrency_caps_the_calls_in_flight_of_all_workers(gate: Gate) -> None:
    gate.configure({}, max_concurrency=2)
    first, second = gate.admit("w1"), gate.admit("w2")
    assert (first.decision, second.decision) == ("go", "go")
    third = gate.admit("w3")
    assert (third.decision, third.reason) == ("wait", "concurrency")
    assert gate.breaker()["calls_in_flight"] == 2
    assert first.permit_id is not None
    database.actor_settle(gate.engine, first.permit_id, gate.actor_id, "ok", None)
    assert gate.admit("w3").decision == "go"


def test_a_success_handed_back_with_the_next_admission_frees_its_slot_for_it(gate: Gate) -> None:
    gate.configure({"rate_limit": {"tokens_per_minute": 6000}}, max_concurrency=1)  # a bucket of 100
    first = gate.admit("w1", tokens=60)
    assert first.decision == "go" and first.permit_id is not None
    assert gate.admit("w2").reason == "concurrency"
    # one round trip: the 60 estimated become 10 used, and the only slot goes to the next call
    second = database.actor_admit(gate.engine, gate.actor_id, "w1", 30, database.Held(first.permit_id, 10))
    assert second.decision == "go" and second.permit_id not in (None, first.permit_id)
    breaker = gate.breaker()
    assert breaker["calls_in_flight"] == 1
    assert 100 - 10 - 30 - 1 < breaker["tokens_left"] <= 100 - 10 - 30 + 1  # refilled meanwhile: 100/s
    assert (breaker["state"], breaker["failures_in_window"]) == ("closed", 0)


def test_the_stored_policy_follows_every_change_of_the_config(gate: Gate) -> None:
    def policy() -> dict:
        with gate.engine.connect() as conn:
            return conn.execute(
                text("SELECT policy FROM actors WHERE actor_id = :id"), {"id": gate.actor_id}
            ).scalar_one()  # type: ignore[no-any-return]

    assert policy()["breaker"]["failure_threshold"] == 3
    gate.configure({"breaker": {"failure_threshold": 7}, "retry": {"max_attempts": 2}})
    assert (policy()["breaker"]["failure_threshold"], policy()["retry"]["max_attempts"]) == (7, 2)
    with gate.engine.begin() as conn:
        conn.execute(
            text("UPDATE actors SET actor_type = 'python', config = '{}' WHERE actor_id = :id"),
            {"id": gate.actor_id},
        )
    assert policy()["retry"]["max_attempts"] == 1 and policy()["breaker"]["counts_failures"] is False


def test_requests_per_minute_space_the_calls_and_say_how_long_to_wait(gate: Gate) -> None:
    gate.configure({"rate_limit": {"requests_per_minute": 120}})  # a bucket of 2, refilled 2 per second
    assert [gate.admit().decision for _ in range(2)] == ["go", "go"]
    refused = gate.admit()
    assert (refused.decision, refused.reason) == ("wait", "rate_limit")
    assert 0.3 < refused.wait_seconds <= 0.5
    time.sleep(refused.wait_seconds + 0.02)
    assert gate.admit().decision == "go"


def test_tokens_per_minute_charge_the_estimate_and_correct_it_with_the_usage(gate: Gate) -> None:
    gate.configure({"rate_limit": {"tokens_per_minute": 600}})  # a bucket of 10 tokens, 10 per second
    big = gate.admit(tokens=10)
    assert big.decision == "go"
    refused = gate.admit(tokens=8)
    assert refused.decision == "wait" and 0.6 < refused.wait_seconds <= 0.8
    assert big.permit_id is not None
    database.actor_settle(gate.engine, big.permit_id, gate.actor_id, "ok", 1)  # it used 1 token, not 10
    assert gate.admit(tokens=8).decision == "go"  # at once: the refill alone would take 0.8 s


def test_a_settle_repeated_or_of_a_call_from_before_the_last_change_counts_nothing(gate: Gate) -> None:
    early = gate.admit()  # admitted while closed, finishes after the breaker opened and was reset
    for _ in range(3):
        gate.call("retryable")
    database.reset_circuit_breaker(gate.engine, "test_gate")
    assert early.permit_id is not None
    assert database.actor_settle(gate.engine, early.permit_id, gate.actor_id, "retryable", None) == (
        "closed",
        None,
    )
    assert database.actor_settle(gate.engine, early.permit_id, gate.actor_id, "retryable", None) == (
        "closed",
        None,
    )
    assert gate.breaker()["failures_in_window"] == 0
    for _ in range(2):
        gate.call("retryable")
    assert gate.breaker()["state"] == "closed"  # two new failures, under the threshold of three


def test_a_bad_policy_falls_back_to_the_defaults_and_never_breaks_the_view(gate: Gate) -> None:
    gate.configure({"breaker": {"failure_threshold": "five"}, "retry": {"max_attempts": 5.0}})
    assert gate.breaker()["failure_threshold"] == 5  # the default: this breaker section is refused
    for _ in range(5):
        gate.call("retryable")
    assert gate.breaker()["state"] == "open"
