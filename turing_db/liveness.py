"""Liveness: a worker is alive while its database session is.

Each process keeps one dedicated connection (outside the pool) that holds a session-level advisory
lock per worker (`worker_lock()` in SQL). The locks vanish the moment the process dies — kill -9,
reboot, lost network — on any machine, so `start_run()` takes a run of dead workers over at once
instead of waiting out a lease. If the session drops while the process lives (a database restart),
`ensure()` reconnects and takes the locks again: every few seconds (`watch()`)
and before any call retried after an outage — pooled connections reconnect silently, so nothing
else would notice that the locks are gone before the minutely sweeper does.
"""

from __future__ import annotations

import threading

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from turing_db import database
from turing_db.logs import get_logger

log = get_logger(__name__)

WATCH_SECONDS = 5.0


class Liveness:
    """The liveness session of this process's workers; a context manager that closes it."""

    def __init__(self, engine: Engine):
        self._engine = create_engine(
            engine.url, poolclass=NullPool, hide_parameters=True,
            connect_args={**database.CONNECT_ARGS, "options": database.SERVER_KEEPALIVES},
        )  # fmt: skip
        self._workers: list[str] = []
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        database.RECONNECT_HOOKS.append(self.revive)  # a call that lost the database re-locks first

    def hold(self, worker: str) -> None:
        """Take `worker`'s lock in the liveness session (before the worker registers with start_run)."""
        with self._lock:
            self._workers.append(worker)
            if database.hold_worker_locks(self._connect(), [worker]):
                raise RuntimeError(f"the liveness lock of worker {worker} is held by another session")

    def ensure(self) -> None:
        """Check the session; after it dropped, reconnect and take every lock again, waiting out an
        unreachable database like every call a worker makes."""
        database.retry_while_unreachable(self._ensure_once)()

    def _ensure_once(self) -> None:
        with self._lock:
            if self._connection is not None:
                try:
                    database.ping_connection(self._connection)
                    return
                except DBAPIError:
                    log.warning("liveness session lost: reconnecting", workers=len(self._workers))
                    self._discard()
            try:
                refused = database.hold_worker_locks(self._connect(), self._workers)
            except DBAPIError:
                self._discard()
                raise
            if refused:  # the old backend has not noticed yet; its lock still says these workers live
                log.warning("liveness lock still held by the lost session", workers=refused)

    def revive(self) -> None:
        """Before a retry: take the locks again if the session dropped; quietly, as the call retried
        reports the outage itself."""
        try:
            self._ensure_once()
        except DBAPIError:
            pass

    def watch(self, every_seconds: float = WATCH_SECONDS) -> None:
        """Check the session every few seconds, in a thread of its own, until closed."""

        def check() -> None:
            while not self._closed.wait(every_seconds):
                try:
                    self.ensure()
                except Exception as error:  # the workers' own calls report an outage; keep watching
                    log.warning("liveness check failed", error=str(error)[:200])

        threading.Thread(target=check, name="turing-liveness", daemon=True).start()

    def close(self) -> None:
        """End the session: the workers' locks go with it."""
        self._closed.set()
        if self.revive in database.RECONNECT_HOOKS:
            database.RECONNECT_HOOKS.remove(self.revive)
        with self._lock:
            self._discard()
            self._engine.dispose()

    def __enter__(self) -> Liveness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    def _discard(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except DBAPIError:
                pass
            self._connection = None
