"""GET /metrics: Prometheus text that parses, moves with a run, and is served when the database hangs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

from turing_db import health, metrics
from turing_db.provisioning import migrations
from turing_db.runner import WaveBatchProcessor

W = 7601


@pytest.fixture
def server(engine: Engine) -> Iterator[health.HealthServer]:
    gauges = metrics.DatabaseCollector(lambda: metrics.database_snapshot(engine, None),
                                       health.OneQuestionAtATime().ask)  # fmt: skip
    served = health.HealthServer(health.HealthMonitor(engine, migrations.head_revision()),
                                 metrics=lambda: metrics.exposition(gauges),
                                 metrics_content_type=metrics.CONTENT_TYPE).start()  # fmt: skip
    yield served
    served.stop()


def scrape(server: health.HealthServer) -> tuple[dict[tuple[str, tuple], float], float]:
    """Every sample as {(name, sorted labels): value}, and how long the scrape took."""
    started = time.monotonic()
    response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    took = time.monotonic() - started
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return samples, took


def test_the_metrics_parse_and_move_with_a_run(
    server: health.HealthServer, engine: Engine, workflows: CommittedWorkflows
) -> None:
    workflows.build(W, [Step("m_echo", entry=True)], [("m_echo", "*", None)])
    before, _ = scrape(server)
    add_postings(engine, 25)
    summary = WaveBatchProcessor(W, engine=engine).run()
    assert summary.completed == 25
    after, _ = scrape(server)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert moved("turing_steps_total") == 25
    assert moved("turing_actor_calls_total", actor="test_python", outcome="ok") == 25
    assert moved("turing_actor_call_seconds_count", actor="test_python") == 25
    assert after[("turing_database_up", ())] == 1
    assert after[("turing_postings", (("state", "total"),))] >= 25
    states = {dict(labels)["state"]: value for (name, labels), value in after.items()
              if name == "turing_circuit_breaker_state" and dict(labels)["actor"] == "test_python"}  # fmt: skip
    assert states == {"closed": 1, "open": 0, "half_open": 0}


def test_a_hung_database_still_gets_the_process_counters_within_a_second(
    server: health.HealthServer, engine: Engine
) -> None:
    with engine.connect() as locker:
        locker.execute(text("LOCK TABLE actor_gates IN ACCESS EXCLUSIVE MODE"))  # the breakers' query waits
        samples, took = scrape(server)
        locker.rollback()
    assert took < 1.0
    assert samples[("turing_database_up", ())] == 0
    assert ("turing_steps_total", ()) in samples
