"""The wave runner: claim a chunk, execute its actors concurrently, hand the results back, repeat.

Everything but actor execution happens in SQL (turing_db.engine). No database connection is held while
actors run; leases are extended by heartbeats meanwhile. `WaveBatchProcessor(workflow_id).run(limit)`
runs until the run has no work left (or `stop()` is called) and returns a `RunSummary`.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from turing_db import engine as sql
from turing_db import validation
from turing_db.actors import Actor, Outcome, Task, build_actor
from turing_db.db import get_engine
from turing_db.execution import execute_chunk
from turing_db.logs import get_logger

log = get_logger(__name__)

DEFAULT_CHUNK_SIZE = 200
DEFAULT_ACTOR_CONCURRENCY = 8
HEARTBEAT_SECONDS = 30.0
IDLE_SLEEP_SECONDS = 0.2
RETRY_ATTEMPTS = 6
CHECK_VIOLATION = "23514"  # the SQLSTATE start_run() refuses an invalid workflow with
T = TypeVar("T")


def database_unreachable(error: BaseException) -> bool:
    """A lost or refused connection, or a transaction the database rolled back to resolve a conflict
    (deadlock, serialization failure: SQLSTATE class 40), as opposed to an error it reported."""
    if not isinstance(error, OperationalError):
        return False
    code = getattr(error.orig, "pgcode", None)
    return error.connection_invalidated or code is None or code.startswith("40")


def retrying(call: Callable[..., T], *args: Any) -> T:
    """Call a SQL function, retrying while the database is unreachable (a restart, a network blip).

    Safe for every call the runner makes: a completion whose commit went through before the
    connection broke is refused as stale on the retry, a lost claim returns when its lease ends, and
    a rolled-back transaction changed nothing.
    """
    for attempt in Retrying(
        retry=retry_if_exception(database_unreachable),
        stop=stop_after_attempt(RETRY_ATTEMPTS),
        wait=wait_exponential(multiplier=0.5, max=8),
        before_sleep=lambda state: log.warning(
            "database unreachable, retrying", call=call.__name__, attempt=state.attempt_number
        ),  # fmt: skip
        reraise=True,
    ):
        with attempt:
            return call(*args)
    raise AssertionError("unreachable")  # Retrying either returns or re-raises


@dataclass
class RunSummary:
    """What a run did: its id and status, postings by final state, and per-conversation figures."""

    workflow_id: int
    workflow_run_id: int
    status: str
    resumed: bool
    postings_routed: int
    postings_in_run: int
    completed: int
    failed: int
    quarantined: int
    pending: int
    conversations: list[dict[str, Any]]
    elapsed_seconds: float
    steps_executed: int
    stale_results: int = 0

    @property
    def steps_per_second(self) -> float:
        return self.steps_executed / self.elapsed_seconds if self.elapsed_seconds else 0.0


@dataclass
class _Counters:
    steps: int = 0
    stale: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, steps: int, stale: int) -> None:
        with self.lock:
            self.steps += steps
            self.stale += stale


class WaveBatchProcessor:
    """Process every pending posting of a workflow in waves, with `workers` cooperating threads.

    Other processes (or machines) may join the same run with `join=True`; `resume_run_id` takes over a
    run whose workers are gone. `on_progress(progress, wave, steps)` is called after every chunk with
    the run's postings by state, the conversation just worked on and the steps this process executed.
    Each worker uses one connection, and a writer thread another while the pool has one to spare.
    """

    def __init__(
        self,
        workflow_id: int = 3001,
        *,
        workers: int = 1,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        join: bool = False,
        resume_run_id: int | None = None,
        engine: Engine | None = None,
        on_progress: Callable[[sql.Progress, str, int], None] | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workflow_id = workflow_id
        self.workers = workers
        self.chunk_size = chunk_size
        self.join = join
        self.resume_run_id = resume_run_id
        self.engine = engine or get_engine()
        connections = getattr(self.engine.pool, "size", lambda: workers)()
        if workers > connections:
            raise ValueError(
                f"{workers} workers need {workers} database connections, but the pool has {connections} "
                "(TURING_DB_POOL_SIZE): raise it, or run more processes with --join"
            )
        self.writers = min(workers, connections - workers)  # 0: each worker completes its own chunks
        self.on_progress = on_progress
        self.heartbeat_seconds = heartbeat_seconds
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._actors: dict[tuple[int, str], Actor] = {}
        self._actors_lock = threading.Lock()
        self._counters = _Counters()

    # -- control ----------------------------------------------------------------------------------

    def stop(self, abandon: bool = False) -> None:
        """Stop claiming; finish the chunks in hand (or, with abandon, release their unfinished claims)."""
        self._stop.set()
        if abandon:
            self._abandon.set()

    # -- the run ------------------------------------------------------------------------------------

    def run(self, limit: int | None = None) -> RunSummary:
        """Validate, start (or resume, or join) the run, work until nothing is left, and summarise."""
        started = time.perf_counter()
        names = [f"{socket.gethostname()}:{os.getpid()}:{index}" for index in range(self.workers)]
        try:  # start_run() validates the workflow itself (its other workers join without validating again)
            start = sql.start_run(
                self.engine, self.workflow_id, names[0], join=self.join, resume_run_id=self.resume_run_id,
                posting_limit=limit,
            )  # fmt: skip
        except DBAPIError as error:
            if getattr(error.orig, "pgcode", None) == CHECK_VIOLATION:  # refused as invalid: every finding
                validation.require_valid(self.engine, self.workflow_id)
            raise
        run_id = start.workflow_run_id
        for name in names[1:]:
            sql.start_run(self.engine, self.workflow_id, name, join=True)
        log.info("run started", workflow_id=self.workflow_id, run_id=run_id, resumed=start.resumed,
                 routed=start.postings_routed, postings=start.postings_in_run, workers=self.workers)  # fmt: skip

        writer = (
            concurrent.futures.ThreadPoolExecutor(self.writers, thread_name_prefix="wave-writer")
            if self.writers
            else None
        )
        try:
            with concurrent.futures.ThreadPoolExecutor(
                self.workers, thread_name_prefix="wave-worker"
            ) as pool:
                futures = [pool.submit(self._work, run_id, name, writer) for name in names]
                pending = set(futures)
                try:
                    while pending:  # wake up often: signal handlers run in this (the main) thread
                        done, pending = concurrent.futures.wait(
                            pending, timeout=0.2, return_when="FIRST_EXCEPTION"
                        )
                        if any(future.exception() is not None for future in done):
                            self.stop()  # one worker failed for good: the others finish their chunk and stop
                except BaseException:  # e.g. Ctrl-C in a program with no signal handler of its own
                    self.stop()
                    raise
                for future in futures:
                    future.result()
        finally:
            if writer is not None:
                writer.shutdown()
            status = "running"
            for name in names:
                status = retrying(sql.stop_worker, self.engine, run_id, name)
        if status == "completed":
            sql.refresh_performance_views(self.engine)
        progress = sql.run_progress(self.engine, run_id)
        summary = RunSummary(
            workflow_id=self.workflow_id,
            workflow_run_id=run_id,
            status=status,
            resumed=start.resumed,
            postings_routed=start.postings_routed,
            postings_in_run=progress.total,
            completed=progress.done,
            failed=progress.failed,
            quarantined=progress.quarantined,
            pending=progress.waiting + progress.claimed,
            conversations=sql.run_summary(self.engine, run_id),
            elapsed_seconds=time.perf_counter() - started,
            steps_executed=self._counters.steps,
            stale_results=self._counters.stale,
        )
        log.info("run finished", run_id=run_id, status=status, completed=summary.completed,
                 failed=summary.failed, quarantined=summary.quarantined, pending=summary.pending,
                 seconds=round(summary.elapsed_seconds, 2))  # fmt: skip
        return summary

    def _work(self, run_id: int, worker: str, writer: concurrent.futures.ThreadPoolExecutor | None) -> None:
        """One worker: claim, execute, complete, until the run has no work or we are told to stop.

        Completion is written behind (when there is a `writer`): while chunk N is being stored, on
        the writer's connection, chunk N+1 is claimed and its actors run, so actors do not wait for
        checkpoints. At most one completion per worker is in flight. It is awaited before the next
        one is handed over, before the worker stops, and when the claim declines to start another
        wave while it is in flight (its postings join the next wave before that wave is chosen). When
        anything fails, the claims in hand are released before the failure is raised.
        """
        in_flight: concurrent.futures.Future[None] | None = None
        wave_in_flight: int | None = None
        claims: list[sql.Claim] = []  # claimed, and neither completed nor handed to the writer yet

        def settle() -> None:
            """Wait for the completion in flight, if any; raise what it raised."""
            nonlocal in_flight, wave_in_flight
            if in_flight is not None:
                future, in_flight, wave_in_flight = in_flight, None, None
                future.result()

        try:
            while not self._stop.is_set():
                if in_flight is not None and in_flight.done():
                    settle()  # a failed completion stops the worker before it claims more
                claims = retrying(
                    sql.claim_chunk, self.engine, run_id, worker, self.chunk_size, wave_in_flight
                )
                if not claims:
                    if in_flight is not None:  # the wave may change: let the completion land first
                        settle()
                        continue
                    progress = retrying(sql.run_progress, self.engine, run_id)
                    if progress.waiting == 0 and progress.claimed == 0:
                        return
                    self._stop.wait(IDLE_SLEEP_SECONDS)  # other workers hold the rest
                    continue
                results, unfinished = self._execute(run_id, worker, claims)
                settle()
                if unfinished:  # abandoned: store what finished, then hand back the rest of the chunk
                    if results:
                        self._complete(run_id, worker, results)
                    # the chunk shares one claim token: only its unfinished postings are still claimed now
                    tokens = [claim.claim_token for claim in unfinished]
                    claims = []
                    retrying(sql.release_claims, self.engine, run_id, worker, tokens)
                    continue
                claims = []  # handed over: a completion that fails hands its own claims back
                if results and writer is not None:
                    in_flight = writer.submit(self._complete, run_id, worker, results)
                    wave_in_flight = results[0][0].conversation_id
                elif results:
                    self._complete(run_id, worker, results)
        except BaseException:
            if claims:  # claimed, and now never to be completed: hand them back rather than wait out leases
                self._release_quietly(run_id, worker, claims)
            try:
                settle()
            except BaseException as error:  # the first failure is the one to raise
                log.warning("a completion also failed", run_id=run_id, error=str(error))
            raise
        settle()

    def _release_quietly(self, run_id: int, worker: str, claims: list[sql.Claim]) -> None:
        """Release claims on the way out of a failure; if that fails too, their leases will expire."""
        try:
            sql.release_claims(self.engine, run_id, worker, [claim.claim_token for claim in claims])
        except Exception as error:  # the failure being raised matters more than this one
            log.warning("could not release claims; they return when their leases expire",
                        run_id=run_id, claims=len(claims), error=str(error))  # fmt: skip

    def _complete(self, run_id: int, worker: str, results: list[tuple[sql.Claim, Outcome]]) -> None:
        """Hand a chunk's results back; count the steps, log refused (stale) results, report progress."""
        try:
            completions = retrying(sql.complete_chunk, self.engine, run_id, worker, results)
        except BaseException:  # nothing of it was stored: hand the claims back rather than wait out leases
            self._release_quietly(run_id, worker, [claim for claim, _ in results])
            raise
        stale = [completion for completion in completions if not completion.accepted]
        for completion in stale:
            log.warning("stale result refused", run_id=run_id, posting_id=completion.posting_id,
                        note=completion.note)  # fmt: skip
        self._counters.add(len(results) - len(stale), len(stale))
        if self.on_progress:
            progress = retrying(sql.run_progress, self.engine, run_id)
            self.on_progress(progress, results[0][0].canonical_name, self._counters.steps)

    def _execute(
        self, run_id: int, worker: str, claims: list[sql.Claim]
    ) -> tuple[list[tuple[sql.Claim, Outcome]], list[sql.Claim]]:
        """Run the chunk's actor on every claim (bounded concurrency), heartbeating while they run."""
        first = claims[0]
        outcomes = execute_chunk(
            self._actor(first),
            [Task(claim.posting_id, claim.prompt, claim.context) for claim in claims],
            concurrency=first.max_concurrency or DEFAULT_ACTOR_CONCURRENCY,
            timeout=float(first.timeout_seconds),
            wait_interval=self.heartbeat_seconds,
            while_waiting=lambda unfinished: retrying(
                sql.heartbeat, self.engine, run_id, worker, [claims[i].claim_token for i in unfinished]
            ),
            stop_now=self._abandon.is_set,
        )
        results = [
            (claim, outcome) for claim, outcome in zip(claims, outcomes, strict=True) if outcome is not None
        ]
        unfinished = [claim for claim, outcome in zip(claims, outcomes, strict=True) if outcome is None]
        return results, unfinished

    def _actor(self, claim: sql.Claim) -> Actor:
        key = (claim.actor_id, repr(sorted(claim.actor_config.items())) + str(claim.timeout_seconds))
        with self._actors_lock:
            if key not in self._actors:
                self._actors[key] = build_actor(claim.actor_name, claim.actor_type, claim.actor_config,
                                                float(claim.timeout_seconds))  # fmt: skip
            return self._actors[key]
