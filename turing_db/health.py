"""A process's health, as `GET /health` serves it while a run goes and `turing health --json` prints it.

One JSON document: `healthy`, the `checks` of `turing health` (database reachable, pg_cron,
migrations at head, the cron jobs), `breakers` (every circuit breaker that is not closed) and, in a
running process, its `run` (status) and `workers` (each with its last heartbeat and how long ago
that was). Unhealthy when a check fails, the database does not answer within `DEADLINE_SECONDS`,
or a breaker is open: an open breaker means postings of that actor are failing with
[CIRCUIT_OPEN] or waiting, which an operator should hear of (half-open is probing, so healthy).

The database is asked on a thread of its own, one question at a time: a hung database costs the
endpoint one deadline and never piles up threads, and the answer says how long the last question
has gone unanswered.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from turing_db import database, reports
from turing_db.logs import get_logger
from turing_db.redaction import describe_error

log = get_logger(__name__)

DEADLINE_SECONDS = 0.8  # the endpoint answers within a second, whatever the database does
CHECK_STATEMENT_TIMEOUT_MS = 5000  # a question that takes longer than this is cancelled by the server


@dataclass
class Watched:
    """What a running process reports of itself (None and empty outside a run)."""

    run_id: int | None = None
    workers: Sequence[str] = field(default_factory=tuple)


def document(engine: Engine, head: str, watched: Watched | None = None) -> dict[str, Any]:
    """The health document, asked of the database now (no deadline: `HealthMonitor` adds one)."""
    watched = watched or Watched()
    checks = reports.health_checks(engine, head)
    result: dict[str, Any] = {
        "checks": [{"name": check.name, "ok": check.ok, "detail": check.detail} for check in checks],
        "breakers": [],
        "run": None,
        "workers": [],
    }
    reachable = checks[0].ok
    at_head = next((check.ok for check in checks if check.name == "migrations at head"), False)
    if reachable and at_head:
        with engine.begin() as conn:
            conn.execute(text(f"SET LOCAL statement_timeout = {CHECK_STATEMENT_TIMEOUT_MS}"))
            result["breakers"] = database.breakers(conn, not_closed=True)
            if watched.run_id is not None:
                run = conn.execute(
                    text("SELECT workflow_run_id, workflow_id, status FROM workflow_runs WHERE workflow_run_id = :id"),
                    {"id": watched.run_id},
                ).mappings().first()  # fmt: skip
                result["run"] = dict(run) if run else None
                result["workers"] = [
                    dict(row)
                    for row in conn.execute(
                        text("SELECT worker_id, heartbeat_at, extract(epoch FROM now() - heartbeat_at)::float "
                             "AS seconds_since_heartbeat, stopped_at IS NOT NULL AS stopped FROM run_workers "
                             "WHERE workflow_run_id = :id AND worker_id = ANY(:workers) ORDER BY worker_id"),
                        {"id": watched.run_id, "workers": list(watched.workers)},
                    ).mappings()
                ]  # fmt: skip
    problems = [f"{check['name']}: {check['detail']}" for check in result["checks"] if not check["ok"]]
    problems += [
        f"circuit breaker of {b['actor_name']} is open" for b in result["breakers"] if b["state"] == "open"
    ]
    return {"healthy": not problems, "problems": problems, **result}


class OneQuestionAtATime:
    """Asks the database on a thread of its own, one question at a time, and waits at most `deadline`
    seconds for the answer: a hung database costs the asker one deadline and never piles up threads
    (while a question goes unanswered, the next ask waits for none)."""

    def __init__(self, deadline: float = DEADLINE_SECONDS, name: str = "health-check"):
        self.deadline = deadline
        self.name = name
        self._lock = threading.Lock()
        self._asking: tuple[float, threading.Event, dict[str, Any]] | None = None  # since, done, answer

    def ask(self, question: Callable[[], Any]) -> Any:
        """The answer; raises `Unanswered` (with the database's error, or how long it has waited)."""
        with self._lock:
            if self._asking is None or self._asking[1].is_set():
                done, answer = threading.Event(), dict[str, Any]()
                self._asking = (time.monotonic(), done, answer)
                threading.Thread(
                    target=self._run, args=(question, done, answer), name=self.name, daemon=True
                ).start()
            since, done, answer = self._asking
        done.wait(max(0.0, self.deadline - (time.monotonic() - since)))
        if "value" in answer:
            return answer["value"]
        raise Unanswered(answer.get("error") or f"no answer for {time.monotonic() - since:.1f} s")

    @staticmethod
    def _run(question: Callable[[], Any], done: threading.Event, answer: dict[str, Any]) -> None:
        try:
            answer["value"] = question()
        except Exception as error:  # the database failed mid-way: its reason, never a secret
            answer["error"] = describe_error(error)
        finally:
            done.set()


class Unanswered(Exception):
    """The database did not answer within the deadline, or failed; the message says which."""


class HealthMonitor:
    """`document()` within `deadline` seconds, however the database behaves."""

    def __init__(
        self,
        engine: Engine,
        head: str,
        watched: Callable[[], Watched] = Watched,
        deadline: float = DEADLINE_SECONDS,
    ):
        self.engine = engine
        self.head = head
        self.watched = watched
        self.questions = OneQuestionAtATime(deadline)

    def check(self) -> dict[str, Any]:
        try:
            return self.questions.ask(lambda: document(self.engine, self.head, self.watched()))  # type: ignore[no-any-return]
        except Unanswered as unanswered:
            detail = str(unanswered)
        return {"healthy": False, "problems": [f"database reachable: {detail}"],
                "checks": [{"name": "database reachable", "ok": False, "detail": detail}],
                "breakers": [], "run": None, "workers": []}  # fmt: skip


def as_json(health: dict[str, Any]) -> str:
    def default(value: object) -> str:
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        return str(value)

    return json.dumps(health, default=default, indent=2)


class HealthServer:
    """On host:port for a running process: `GET /health` (200 when healthy, 503 when not) and, when
    given `metrics` (the exposition's bytes), `GET /metrics`, and given `page` (HTML), `GET /`."""

    def __init__(
        self,
        monitor: HealthMonitor,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics: Callable[[], bytes] | None = None,
        metrics_content_type: str = "text/plain; charset=utf-8",
        page: Callable[[], str] | None = None,
    ):
        self.monitor = monitor
        self.metrics = metrics
        self.metrics_content_type = metrics_content_type
        self.page = page
        self.host = host
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health endpoint listening", url=f"http://{self.host}:{self.port}/health")
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        monitor, metrics, content_type, page = (
            self.monitor,
            self.metrics,
            self.metrics_content_type,
            self.page,
        )
        endpoints = ["/health"] + (["/metrics"] if metrics else []) + (["/"] if page else [])

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/health":
                    health = monitor.check()
                    self._send(200 if health["healthy"] else 503, as_json(health).encode())
                elif path == "/metrics" and metrics is not None:
                    self._send(200, metrics(), content_type)
                elif path == "/" and page is not None:
                    try:
                        self._send(200, page().encode(), "text/html; charset=utf-8")
                    except Exception as error:  # the database is away: say so, and try again soon
                        message = html.escape(describe_error(error))
                        self._send(503, f'<meta http-equiv="refresh" content="5"><p>{message}</p>'.encode(),
                                   "text/html; charset=utf-8")  # fmt: skip
                else:
                    self._send(
                        404, as_json({"error": f"no endpoint GET {path}", "endpoints": endpoints}).encode()
                    )

            def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # no line per request on stderr
                pass

        return Handler
