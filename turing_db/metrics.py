"""Prometheus metrics of a worker process, served as `GET /metrics` beside `/health`.

Counted in this process as things happen (so a scrape of each worker process adds up across them):
  turing_steps_total                      posting-steps stored
  turing_stale_results_total              results refused as stale (their claims had been taken over)
  turing_deferred_postings_total          postings sent back to the pool until a not-before time
  turing_actor_calls_total{actor,outcome} calls by how they ended: ok, error, timeout, failed, circuit_open
  turing_actor_call_seconds{actor}        call latency (a histogram)
  turing_actor_tokens_total{actor,direction}  prompt (in) and completion (out) tokens
  turing_actor_retries_total{actor}       attempts retried after a retryable or rate-limited outcome
  turing_actor_waits_total{actor,reason}  admissions that had to wait: rate_limit, concurrency, breaker
Read from the database at each scrape (what every worker shares), within the health deadline:
  turing_database_up                      1 when the database answered
  turing_postings{state}                  the run's postings by state (before the run has started: all
                                          postings, by posting_counts(): total, complete, pending …)
  turing_circuit_breaker_state{actor,state}  1 for each actor's current state, 0 for the others
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.engine import Engine

from turing_db import database
from turing_db.actors import Outcome

PROCESS = CollectorRegistry(auto_describe=True)
STEPS = Counter("turing_steps", "posting-steps stored", registry=PROCESS)
STALE = Counter("turing_stale_results", "results refused as stale", registry=PROCESS)
DEFERRED = Counter("turing_deferred_postings", "postings deferred to a not-before time", registry=PROCESS)
CALLS = Counter("turing_actor_calls", "actor calls by outcome", ["actor", "outcome"], registry=PROCESS)
LATENCY = Histogram(
    "turing_actor_call_seconds", "actor call latency", ["actor"], registry=PROCESS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)  # fmt: skip
TOKENS = Counter("turing_actor_tokens", "tokens by direction (in: prompt, out: completion)", ["actor", "direction"],
                 registry=PROCESS)  # fmt: skip
RETRIES = Counter("turing_actor_retries", "attempts retried", ["actor"], registry=PROCESS)
WAITS = Counter(
    "turing_actor_waits", "admissions that waited, by reason", ["actor", "reason"], registry=PROCESS
)
BREAKER_STATES = ("closed", "open", "half_open")
CONTENT_TYPE = CONTENT_TYPE_LATEST  # the text format generate_latest() writes


def observe_call(actor: str, outcome: Outcome) -> None:
    """One finished call of `actor` (a posting's final attempt)."""
    label = "ok" if outcome.ok else (outcome.sentinel or "[ERROR]").strip("[]").lower()
    CALLS.labels(actor, label).inc()
    if label != "circuit_open":  # refused by the breaker: no call, no latency
        LATENCY.labels(actor).observe(max(outcome.latency_ms, 0) / 1000)
    if outcome.prompt_tokens:
        TOKENS.labels(actor, "in").inc(outcome.prompt_tokens)
    if outcome.completion_tokens:
        TOKENS.labels(actor, "out").inc(outcome.completion_tokens)


def database_snapshot(engine: Engine, run_id: int | None) -> dict[str, Any]:
    """What the scrape reads from the database: postings by state and every breaker's state."""
    if run_id is not None:
        progress = database.run_progress(engine, run_id)
        postings = {"waiting": progress.waiting, "claimed": progress.claimed, "done": progress.done,
                    "failed": progress.failed, "quarantined": progress.quarantined}  # fmt: skip
    else:
        postings = database.posting_counts(engine)
    return {
        "postings": postings,
        "breakers": {b["actor_name"]: b["state"] for b in database.breakers(engine)},
    }


class DatabaseCollector:
    """The gauges read from the database at each scrape; `ask` bounds the wait (health's deadline)."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]], ask: Callable[[Callable[[], Any]], Any]):
        self.snapshot = snapshot
        self.ask = ask

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("turing_database_up", "1 when the database answered this scrape")
        try:
            snapshot = self.ask(self.snapshot)
        except Exception:  # unanswered or failed: the process's own counters are still served
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        postings = GaugeMetricFamily("turing_postings", "postings by state (the run's)", labels=["state"])
        for state, count in sorted(snapshot["postings"].items()):
            postings.add_metric([state], count)
        yield postings
        breakers = GaugeMetricFamily("turing_circuit_breaker_state", "1 for the breaker's state",
                                     labels=["actor", "state"])  # fmt: skip
        for actor, current in sorted(snapshot["breakers"].items()):
            for state in BREAKER_STATES:
                breakers.add_metric([actor, state], 1 if state == current else 0)
        yield breakers


def exposition(collector: DatabaseCollector) -> bytes:
    """The process's counters and the database's gauges, in the Prometheus text format."""

    class Both:
        def collect(self) -> Iterator[Metric]:
            yield from PROCESS.collect()
            yield from collector.collect()

    return generate_latest(Both())  # type: ignore[arg-type]
