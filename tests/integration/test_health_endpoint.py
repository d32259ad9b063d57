"""GET /health: 200 when healthy, 503 when a breaker is open or the database does not answer, within a second."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from turing_db import health
from turing_db.provisioning import migrations


@pytest.fixture
def server(engine: Engine) -> Iterator[health.HealthServer]:
    served = health.HealthServer(health.HealthMonitor(engine, migrations.head_revision())).start()
    yield served
    served.stop()


def get(server: health.HealthServer) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5)
    return response.status_code, response.json(), time.monotonic() - started


@pytest.fixture
def open_breaker(engine: Engine) -> Iterator[None]:
    with engine.begin() as conn:
        actor_id = conn.execute(
            text("INSERT INTO actors (actor_name, actor_type, config) VALUES ('health_llm', 'openai', "
                 "'{\"model\": \"m\", \"base_url\": \"http://127.0.0.1:9/v1\"}') RETURNING actor_id")
        ).scalar_one()  # fmt: skip
        conn.execute(
            text("INSERT INTO actor_gates (actor_id, state, opened_at, retry_at) VALUES (:id, 'open', now(), now() + interval '1 hour')"),
            {"id": actor_id},
        )  # fmt: skip
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM actors WHERE actor_name = 'health_llm'"))


def test_a_healthy_database_answers_200_with_every_check(server: health.HealthServer) -> None:
    status, body, _ = get(server)
    assert status == 200, body
    assert body["healthy"] is True and body["problems"] == []
    assert {check["name"] for check in body["checks"]} >= {"database reachable", "migrations at head"}
    assert httpx.get(f"http://127.0.0.1:{server.port}/nothing").status_code == 404


def test_an_open_breaker_is_unhealthy_and_named(server: health.HealthServer, open_breaker: None) -> None:
    status, body, _ = get(server)
    assert status == 503
    assert body["problems"] == ["circuit breaker of health_llm is open"]
    assert [(b["actor_name"], b["state"]) for b in body["breakers"]] == [("health_llm", "open")]


def test_a_hung_database_gets_503_within_a_second_and_never_piles_up_questions(
    server: health.HealthServer, engine: Engine
) -> None:
    with engine.connect() as locker:
        locker.execute(text("LOCK TABLE actor_gates IN ACCESS EXCLUSIVE MODE"))  # the breakers' query waits
        first = get(server)
        second = get(server)
        locker.rollback()
    for status, body, took in (first, second):
        assert status == 503 and took < 1.0, (status, took)
        assert body["checks"][0]["name"] == "database reachable" and body["checks"][0]["ok"] is False
    assert "no answer for" in second[1]["problems"][0]
    time.sleep(0.3)  # the lock is gone: the question in flight gets its answer, the next one is fresh
    assert get(server)[0] == 200


def test_turing_health_json_prints_the_document_and_exits_by_it(engine: Engine, open_breaker: None) -> None:
    checked = health.HealthMonitor(engine, migrations.head_revision(), deadline=5).check()
    assert checked["healthy"] is False
    assert json.loads(health.as_json(checked))["problems"] == ["circuit breaker of health_llm is open"]


def test_a_stopped_database_gets_503_naming_it() -> None:
    from port_for import get_port
    from sqlalchemy import create_engine

    nowhere = create_engine(
        f"postgresql+psycopg2://turing@127.0.0.1:{get_port(None)}/turing", pool_pre_ping=True
    )
    served = health.HealthServer(health.HealthMonitor(nowhere, migrations.head_revision())).start()
    try:
        status, body, took = get(served)
    finally:
        served.stop()
    assert status == 503 and took < 1.0
    assert body["checks"][0]["name"] == "database reachable" and body["checks"][0]["ok"] is False
    assert "Connection refused" in body["checks"][0]["detail"] or "connect" in body["checks"][0]["detail"]
