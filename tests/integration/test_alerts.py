"""Alerts: raised by the database when a breaker opens or closes and a posting is quarantined, each
delivered once across dispatchers, and a slow or failing channel never holds up a run."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

from turing_db import database
from turing_db.alerts import AlertDispatcher, Channels, raise_alert
from turing_db.runner import WaveBatchProcessor


def alerts(engine: Engine) -> list[tuple[str, dict, dict | None]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event, details, delivery FROM alerts ORDER BY alert_id")).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


@pytest.fixture
def no_alerts(engine: Engine) -> Iterator[Engine]:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE alerts"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE alerts"))
        conn.execute(text("DELETE FROM actors WHERE actor_name = 'alerting_llm'"))


def test_a_breaker_opening_and_closing_raises_one_alert_each_and_half_opening_none(no_alerts: Engine) -> None:
    engine = no_alerts
    with engine.begin() as conn:
        actor_id = conn.execute(
            text("INSERT INTO actors (actor_name, actor_type, config) VALUES ('alerting_llm', 'openai', "
                 "CAST(:config AS jsonb)) RETURNING actor_id"),
            {"config": json.dumps({"model": "m", "base_url": "http://127.0.0.1:9/v1",
                                   "breaker": {"failure_threshold": 2, "reset_seconds": 0.2}})},
        ).scalar_one()  # fmt: skip
    for _ in range(2):
        admission = database.actor_admit(engine, actor_id, "w1", 0)
        assert admission.permit_id is not None
        database.actor_settle(engine, admission.permit_id, actor_id, "retryable", None)
    time.sleep(0.3)
    assert database.actor_admit(engine, actor_id, "w1", 0).probe  # half-open now: no alert for that
    assert database.reset_circuit_breaker(engine, "alerting_llm") == "half_open"
    raised = alerts(engine)
    assert [event for event, _, _ in raised] == ["circuit_breaker_open", "circuit_breaker_closed"]
    assert (
        raised[0][1]["actor_name"] == "alerting_llm" and raised[0][1]["reason"] == "2 failures within 120 s"
    )


def test_a_quarantined_posting_raises_an_alert_with_its_reason(no_alerts: Engine, clean_data: Engine) -> None:
    (posting_id,) = add_postings(no_alerts, 1)
    with no_alerts.begin() as conn:
        conn.execute(text("UPDATE postings SET quarantined_at = now(), quarantine_reason = 'claimed 4 times' "
                          "WHERE posting_id = :id"), {"id": posting_id})  # fmt: skip
        conn.execute(
            text("UPDATE postings SET updated_at = now() WHERE posting_id = :id"), {"id": posting_id}
        )
    assert [(event, details["posting_id"], details["reason"]) for event, details, _ in alerts(no_alerts)] == [
        ("posting_quarantined", posting_id, "claimed 4 times")
    ]


def test_two_dispatchers_deliver_each_alert_once_to_the_command(no_alerts: Engine, tmp_path: Path) -> None:
    channels = Channels(command=f"cat > {tmp_path}/alert-$$.json", timeout=5)  # a file per delivery
    for number in range(12):
        raise_alert(no_alerts, "run_failed", {"number": number})
    dispatchers = [AlertDispatcher(no_alerts, f"w{i}", channels, poll_seconds=0.05).start() for i in range(2)]
    for dispatcher in dispatchers:
        dispatcher.stop()
    lines = [json.loads(path.read_text()) for path in tmp_path.glob("alert-*.json")]
    assert sorted(line["number"] for line in lines) == list(range(12))
    assert {line["event"] for line in lines} == {"run_failed"}
    assert all(delivery == {"command": "ok"} for _, _, delivery in alerts(no_alerts))


def test_a_hung_or_failing_command_is_cut_off_and_noted_and_the_run_goes_on(
    no_alerts: Engine, workflows: CommittedWorkflows, clean_data: Engine
) -> None:
    raise_alert(no_alerts, "run_failed", {"which": "hung"})
    hung = AlertDispatcher(
        no_alerts, "w1", Channels(command="sleep 30", timeout=0.5), poll_seconds=0.05
    ).start()
    workflows.build(7701, [Step("a_echo", entry=True)], [("a_echo", "*", None)])
    add_postings(no_alerts, 25)
    started = time.monotonic()
    assert WaveBatchProcessor(7701, engine=no_alerts).run().completed == 25
    assert time.monotonic() - started < 5
    hung.stop()
    raise_alert(no_alerts, "run_failed", {"which": "failing"})
    failing = AlertDispatcher(no_alerts, "w1", Channels(command="echo nope >&2; exit 3", timeout=5)).start()
    failing.stop()
    assert [delivery for _, _, delivery in alerts(no_alerts)] == [
        {"command": "timed out after 0.5 s"}, {"command": "exit status 3: nope"}
    ]  # fmt: skip


def test_the_webhook_gets_one_post_per_alert(no_alerts: Engine) -> None:
    posted: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for number in range(3):
            raise_alert(no_alerts, "circuit_breaker_open", {"actor_name": f"a{number}"})
        url = f"http://127.0.0.1:{server.server_address[1]}/hook?token=secret"
        AlertDispatcher(no_alerts, "w1", Channels(webhook=url, timeout=5)).start().stop()
    finally:
        server.shutdown()
    assert sorted(body["actor_name"] for body in posted) == ["a0", "a1", "a2"]
    assert all(delivery == {"webhook": "ok"} for _, _, delivery in alerts(no_alerts))


def test_a_malformed_webhook_url_or_alert_costs_no_other_alert(no_alerts: Engine) -> None:
    raise_alert(no_alerts, "run_failed", {"number": 1})
    with no_alerts.begin() as conn:  # raise_alert() is public SQL: details need not be an object
        conn.execute(text("SELECT raise_alert('run_failed', '[1, 2]')"))
    raise_alert(no_alerts, "run_failed", {"number": 3, "event": "not the event"})
    AlertDispatcher(no_alerts, "w1", Channels(webhook="http://127.0.0.1:99x/hook", timeout=1)).start().stop()
    assert [delivery for _, _, delivery in alerts(no_alerts)] == [{"webhook": "InvalidURL"}] * 3
