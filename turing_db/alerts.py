"""Alerts for operators: a circuit breaker opening or closing, a posting quarantined, a run failing.

The database raises them (triggers on circuit_breaker_events and postings, `raise_alert()` for a
failed run) into the table `alerts`; every `turing run` process has one `AlertDispatcher`, a thread
that takes waiting alerts (`take_alerts()`: each goes to one process, so it is delivered once
across the fleet), logs each as an `alert` event, and, when configured, runs TURING_ALERT_COMMAND
(through `sh -c`, the alert as JSON on its stdin) and POSTs the same JSON to TURING_ALERT_WEBHOOK,
each within TURING_ALERT_TIMEOUT seconds (10). Delivery happens on that thread only: a slow, hung
or failing channel never holds up or fails the run; how each went is noted in `alerts.delivery`.
An alert raised while no run goes waits for the next run's dispatcher.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from turing_db.logs import get_logger
from turing_db.redaction import is_secret_name, redact, register_secret
from turing_db.settings import positive_seconds, read_environment

log = get_logger(__name__)

POLL_SECONDS = 1.0  # how soon a raised alert is delivered while a run goes
DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Channels:
    """Where alerts go besides the log (TURING_ALERT_COMMAND, TURING_ALERT_WEBHOOK)."""

    command: str | None = None
    webhook: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS


def load_channels(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Channels:
    env = read_environment(environ, env_file)
    timeout = positive_seconds(env, "TURING_ALERT_TIMEOUT", DEFAULT_TIMEOUT_SECONDS)
    return Channels(env.get("TURING_ALERT_COMMAND") or None, env.get("TURING_ALERT_WEBHOOK") or None, timeout)


def raise_alert(engine: Engine, event: str, details: dict[str, Any]) -> None:
    """Queue an alert (best effort: a database that cannot take it is logged, not raised)."""
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT raise_alert(:event, CAST(:details AS jsonb))"),
                         {"event": event, "details": json.dumps(details, default=str)})  # fmt: skip
    except Exception as error:
        log.warning("could not raise an alert", alert=event, error=redact(str(error))[:200])


class AlertDispatcher:
    """One per process: takes the database's waiting alerts every POLL_SECONDS and delivers them."""

    def __init__(self, engine: Engine, worker: str, channels: Channels, poll_seconds: float = POLL_SECONDS):
        self.engine = engine
        self.worker = worker
        self.channels = channels
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alert-dispatcher", daemon=True)
        for secret in (channels.webhook, channels.command):  # a webhook URL carries its token
            if secret:
                register_secret(secret)

    def start(self) -> AlertDispatcher:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Deliver what is waiting now, then end; waits at most `timeout` (by default two channel
        timeouts per channel and a second more): alerts not taken by then wait for the next process."""
        self._stop.set()
        channels = (self.channels.command is not None) + (self.channels.webhook is not None)
        self._thread.join(timeout if timeout is not None else 2 * channels * self.channels.timeout + 1)

    def deliver_waiting(self) -> int:
        """Take the oldest waiting alert and deliver it; how many were taken (0 or 1). One at a time,
        so that what a stopping process has no time for stays waiting for the next one."""
        with self.engine.begin() as conn:
            taken = conn.execute(
                text("SELECT * FROM take_alerts(:worker, 1)"), {"worker": self.worker}
            ).mappings().all()  # fmt: skip
        for alert in taken:
            try:
                self._deliver(dict(alert))
            except Exception as error:  # a malformed alert costs itself only
                log.warning("alert delivery failed", channel="all", outcome=redact(repr(error))[:200])
        return len(taken)

    def _loop(self) -> None:
        while True:
            stopping = self._stop.is_set()  # once stopped: one last pass for what is waiting
            try:
                while self.deliver_waiting() and (stopping or not self._stop.is_set()):
                    pass
            except Exception as error:  # the database is away: the alerts wait for it
                log.warning("could not take alerts", error=redact(str(error))[:200])
            if stopping:
                return
            self._stop.wait(self.poll_seconds)

    def _deliver(self, alert: dict[str, Any]) -> None:
        details = alert["details"] if isinstance(alert["details"], dict) else {"details": alert["details"]}
        details = {key: value for key, value in details.items() if key not in ("event", "alert", "alert_id")}
        body = json.dumps({"event": alert["event"], "alert_id": alert["alert_id"], "raised_at": alert["raised_at"],
                           **details}, default=str)  # fmt: skip
        log.warning("alert", alert=alert["event"], alert_id=alert["alert_id"], **details)
        delivery: dict[str, str] = {}
        if self.channels.command:
            delivery["command"] = self._run_command(body)
        if self.channels.webhook:
            delivery["webhook"] = self._post(body)
        if delivery:
            try:
                with self.engine.begin() as conn:
                    conn.execute(text("SELECT record_alert_delivery(:id, CAST(:delivery AS jsonb))"),
                                 {"id": alert["alert_id"], "delivery": json.dumps(delivery)})  # fmt: skip
            except Exception as error:
                log.warning(
                    "could not note an alert's delivery",
                    alert_id=alert["alert_id"],
                    error=redact(str(error))[:200],
                )

    def _run_command(self, body: str) -> str:
        """Run the command with the alert on its stdin; past the timeout its whole group is killed."""
        assert self.channels.command is not None
        try:
            env = {name: value for name, value in os.environ.items()  # the secrets stay with this process
                   if not is_secret_name(name) and name != "TURING_DATABASE_URL"}  # fmt: skip
            child = subprocess.Popen(["sh", "-c", self.channels.command], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True, env=env)  # fmt: skip
        except OSError as error:
            return self._failed("command", f"could not start: {error.strerror}")
        try:
            _, errors = child.communicate(body, timeout=self.channels.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            with contextlib.suppress(
                subprocess.TimeoutExpired
            ):  # a grandchild outside the group may hold stderr
                child.communicate(timeout=1)
            return self._failed("command", f"timed out after {self.channels.timeout:g} s")
        if child.returncode != 0:
            return self._failed("command", f"exit status {child.returncode}: {redact(errors.strip())[:200]}")
        return "ok"

    @staticmethod
    def _failed(channel: str, outcome: str) -> str:
        log.warning("alert delivery failed", channel=channel, outcome=outcome)
        return outcome

    def _post(self, body: str) -> str:
        assert self.channels.webhook is not None
        try:
            response = httpx.post(self.channels.webhook, content=body, timeout=self.channels.timeout,
                                  headers={"Content-Type": "application/json"})  # fmt: skip
        except Exception as error:  # httpx.HTTPError, and InvalidURL, which is not one
            return self._failed("webhook", type(error).__name__)  # never the URL: it may hold a token
        return "ok" if response.is_success else self._failed("webhook", f"HTTP {response.status_code}")
