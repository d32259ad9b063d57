"""The wave runner: claim a chunk, execute its actors concurrently, hand the results back, repeat.

Everything but actor execution happens in SQL (turing_db.database). No database connection is held while
actors run; leases are extended by heartbeats meanwhile. `WaveBatchProcessor(workflow_id).run(limit)`
runs until the run has no work left (or `stop()` is called) and returns a `RunSummary`.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from turing_db import database, metrics
from turing_db.actors import Actor, Outcome, Task, UnavailableActor, build_actor
from turing_db.actors.http import servers_capacity
from turing_db.actors.registry import abandon_all
from turing_db.database import Chunk, Claim, Progress
from turing_db.execution import execute_chunk
from turing_db.liveness import Liveness
from turing_db.logs import get_logger
from turing_db.pool import get_engine
from turing_db.redaction import redact
from turing_db.resilience import GuardedActor, is_guarded
from turing_db.settings import load_run_limits

log = get_logger(__name__)

DEFAULT_CHUNK_SIZE = 200
DEFAULT_ACTOR_CONCURRENCY = 8
HEARTBEAT_SECONDS = 30.0
IDLE_SLEEP_SECONDS = 0.2
MAX_JOINED_CHUNKS = 8  # chunks one execution runs back to back (what it holds in memory, what it heartbeats)
Results = list[tuple[Claim, Outcome]]


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
        on_progress: Callable[[Progress, str, int], None] | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        max_output_bytes: int | None = None,
        flush_batch: int | None = None,
        flush_ms: int | None = None,
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
        limits = load_run_limits()
        self.max_output_bytes = max_output_bytes or limits.max_output_bytes
        self.flush_batch = flush_batch or limits.flush_batch
        self.flush_seconds = (flush_ms or limits.flush_ms) / 1000
        self.run_id: int | None = None  # the run this processor works on, once started (GET /health)
        self.worker_names: tuple[str, ...] = ()
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._actors: dict[str, Actor] = {}
        self._slots: dict[tuple[str, str], threading.Semaphore] = {}  # (worker, actor): its calls in flight
        self._actors_lock = threading.Lock()
        self._counters = _Counters()
        self._liveness: Liveness  # set by run()

    # -- control ----------------------------------------------------------------------------------

    def stop(self, abandon: bool = False) -> None:
        """Stop claiming; finish the chunks in hand (or, with abandon, release their unfinished claims)."""
        self._stop.set()
        if abandon:
            self._abandon.set()

    # -- the run ------------------------------------------------------------------------------------

    def run(self, limit: int | None = None) -> RunSummary:
        """Start (or resume, or join) the run, work until nothing is left, and summarise.

        start_run() validates the workflow and raises WorkflowInvalid with every finding; this
        process's other workers join the started run without validating again.
        """
        started = time.perf_counter()
        # unique even where containers share a hostname and a pid
        process = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        names = [f"{process}:{index}" for index in range(self.workers)]
        self.worker_names = tuple(names)
        with Liveness(self.engine) as liveness:
            self._liveness = liveness
            liveness.hold(names[0])  # alive before registered: a concurrent start never sees it dead
            start = database.start_run(
                self.engine, self.workflow_id, names[0], join=self.join, resume_run_id=self.resume_run_id,
                posting_limit=limit, holds_lock=True,
            )  # fmt: skip
            for name in names[1:]:
                liveness.hold(name)
                database.start_run(self.engine, self.workflow_id, name, join=True, holds_lock=True)
            liveness.watch()
            self.run_id = start.workflow_run_id
            log.info("run started", workflow_id=self.workflow_id, run_id=start.workflow_run_id,
                     resumed=start.resumed, routed=start.postings_routed, postings=start.postings_in_run,
                     workers=self.workers)  # fmt: skip
            status = self._run_workers(start.workflow_run_id, names)
        run_id = start.workflow_run_id
        if status == "completed":
            database.refresh_performance_views(self.engine)
        progress = database.run_progress(self.engine, run_id)
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
            conversations=database.run_summary(self.engine, run_id),
            elapsed_seconds=time.perf_counter() - started,
            steps_executed=self._counters.steps,
            stale_results=self._counters.stale,
        )
        log.info("run finished", run_id=run_id, status=status, completed=summary.completed,
                 failed=summary.failed, quarantined=summary.quarantined, pending=summary.pending,
                 seconds=round(summary.elapsed_seconds, 2))  # fmt: skip
        return summary

    def _run_workers(self, run_id: int, names: list[str]) -> str:
        """Run one worker thread per name until the run has no work (or a stop); the run's status."""
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
            for name in names:  # a failure here blocks nobody: the workers' locks go with the session
                try:
                    status = database.stop_worker(self.engine, run_id, name)
                except Exception as error:
                    log.warning("could not leave the run; it is resumed when next started", run_id=run_id,
                                worker=name, error=str(error))  # fmt: skip
        return status

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
        chunk: Chunk | None = None  # claimed, and neither completed nor handed to the writer yet
        tokens: list[uuid.UUID] = []  # the claim tokens of `chunk` and of the chunks that joined it

        def settle() -> None:
            """Wait for the completion in flight, if any; raise what it raised."""
            nonlocal in_flight, wave_in_flight
            if in_flight is not None:
                future, in_flight, wave_in_flight = in_flight, None, None
                future.result()

        def store(claimed: Chunk, results: Results, wait: bool) -> bool:
            """Hand results to the writer (or store them here without one). With `wait` False, only
            when no completion is in flight: whether they were handed over."""
            nonlocal in_flight, wave_in_flight
            if in_flight is not None:
                if not wait and not in_flight.done():
                    return False
                settle()
            if writer is None:
                self._complete(worker, claimed, results)
            else:
                in_flight = writer.submit(self._complete, worker, claimed, results)
                wave_in_flight = claimed.conversation_id
            return True

        try:
            while not self._stop.is_set():
                if in_flight is not None and in_flight.done():
                    settle()  # a failed completion stops the worker before it claims more
                chunk = database.claim_chunk(self.engine, run_id, worker, self.chunk_size, wave_in_flight)
                if chunk is None:
                    if in_flight is not None:  # the wave may change: let the completion land first
                        settle()
                        continue
                    state = database.worker_state(self.engine, run_id, worker)
                    if state.next_step != "wait":
                        if state.next_step != "done":
                            log.warning(
                                "worker stopping", reason=state.next_step, run_id=run_id, worker=worker
                            )
                        return
                    self._stop.wait(IDLE_SLEEP_SECONDS)  # other workers hold the rest
                    continue
                tokens = [chunk.claim_token]  # and those of the chunks that join it (_execute appends)
                results, finished_all = self._execute(
                    worker, chunk, functools.partial(store, chunk, wait=False), tokens
                )
                if not finished_all:  # abandoned: store what finished, then hand back the rest of the chunk
                    if self._abandon.is_set():
                        abandon_all()  # its commands must not go on once their claims are released
                    settle()
                    if results:
                        self._complete(worker, chunk, results)
                    # a chunk shares one claim token: only its unfinished postings are still claimed now
                    database.release_claims(self.engine, run_id, worker, tokens)
                elif results:
                    store(chunk, results, wait=True)
                chunk = None  # handed over: a completion that fails hands its own claims back
        except BaseException:
            if chunk is not None:  # claimed, and now never to be completed: hand it back, not wait out leases
                self._release_quietly(run_id, worker, tokens)
            try:
                settle()
            except BaseException as error:  # the first failure is the one to raise
                log.warning("a completion also failed", run_id=run_id, error=str(error))
            raise
        settle()

    def _release_quietly(self, run_id: int, worker: str, tokens: list[uuid.UUID]) -> None:
        """Release claims on the way out of a failure; if that fails too, their leases will expire."""
        try:
            database.release_claims_once(self.engine, run_id, worker, tokens)
        except Exception as error:  # the failure being raised matters more than this one
            log.warning("could not release claims; they return when their leases expire",
                        run_id=run_id, error=str(error))  # fmt: skip

    def _complete(self, worker: str, chunk: Chunk, results: Results) -> None:
        """Hand a chunk's results back; count the steps, log refused (stale) results, report progress."""
        try:
            completions = database.complete_chunk(self.engine, worker, chunk, results, self.max_output_bytes)
        except BaseException:  # nothing of it was stored: hand the claims back rather than wait out leases
            tokens = {claim.claim_token or chunk.claim_token for claim, _ in results} | {chunk.claim_token}
            self._release_quietly(chunk.workflow_run_id, worker, sorted(tokens))
            raise
        stale = [completion for completion in completions if not completion.accepted]
        for completion in stale:
            log.warning("stale result refused", run_id=chunk.workflow_run_id, posting_id=completion.posting_id,
                        note=completion.note)  # fmt: skip
        deferred = [completion for completion in completions if completion.state == "deferred"]
        for completion in deferred:
            log.info("posting deferred", run_id=chunk.workflow_run_id, posting_id=completion.posting_id,
                     note=completion.note)  # fmt: skip
        self._counters.add(len(results) - len(stale) - len(deferred), len(stale))
        metrics.STEPS.inc(len(results) - len(stale) - len(deferred))
        metrics.STALE.inc(len(stale))
        metrics.DEFERRED.inc(len(deferred))
        if self.on_progress:
            progress = database.run_progress(self.engine, chunk.workflow_run_id)
            self.on_progress(progress, chunk.conversation, self._counters.steps)

    def _execute(
        self, worker: str, chunk: Chunk, store: Callable[[Results], bool], tokens: list[uuid.UUID]
    ) -> tuple[Results, bool]:
        """Run the chunk's actor on every claim (bounded concurrency), heartbeating while they run,
        and hand finished results to `store` as they come: when `flush_batch` are waiting or the oldest
        has waited `flush_seconds` (so a kill -9 costs the calls in flight and the results not stored
        yet, not the chunk). For a guarded actor (one that calls a server), the next chunk of the wave
        is claimed as soon as every claim of this one has started, and its claims join the execution,
        so the server's slots never idle while a chunk drains. Returns the results not handed over
        yet, and whether every claim finished (not when abandoned, nor when a heartbeat finds that a
        chunk's claims were taken over: then its results would be refused). `tokens` holds the chunk's
        claim token; the tokens of the chunks that join it are appended (at most MAX_JOINED_CHUNKS;
        none for a suspect, which runs alone), so that a failure can hand them all back. On a
        graceful stop, the joined claims not started yet are not started (they are handed back)."""
        fenced = threading.Event()
        finished: list[tuple[Claim, Outcome]] = []  # in the order they finished (actor threads append)
        handed_over = 0
        oldest = [0.0]  # when the oldest result not handed over yet finished
        claims = list(chunk.claims)  # this chunk's, then those of the chunks that joined it

        def on_outcome(index: int, outcome: Outcome) -> None:
            if len(finished) == handed_over:
                oldest[0] = time.monotonic()
            finished.append((claims[index], outcome))
            if outcome.defer_seconds is None:  # a deferral is no result (and maybe no call)
                metrics.observe_call(chunk.actor.actor_name, outcome)

        def next_chunk() -> list[Task]:
            """The claims of the wave's next chunk, to start as slots free (none when the wave is done,
            another wave comes first, or the worker stops)."""
            if self._stop.is_set() or stopping() or chunk.suspect or len(tokens) >= MAX_JOINED_CHUNKS:
                return []
            try:  # one attempt: waiting out an outage here would hold up this execution's loop
                following = database.claim_chunk_once(self.engine, chunk.workflow_run_id, worker,
                                                       self.chunk_size, chunk.conversation_id)  # fmt: skip
            except Exception as error:  # only an optimisation: the worker's loop claims again
                log.warning(
                    "could not claim ahead", run_id=chunk.workflow_run_id, error=redact(str(error))[:200]
                )
                return []
            if following is None:
                return []
            if (
                following.conversation_id != chunk.conversation_id
                or following.actor != chunk.actor
                or following.suspect
            ):
                # another actor row now, or a suspect, which runs alone: back to the pool
                self._release_quietly(chunk.workflow_run_id, worker, [following.claim_token])
                return []
            claims.extend(following.claims)
            tokens.append(following.claim_token)
            joined = [claim.task() for claim in following.claims]
            if isinstance(actor, GuardedActor):
                actor.prefetch(joined)  # an actor that caches: this chunk's cached answers, at once
            return joined

        def store_some() -> None:
            nonlocal handed_over
            ready = len(finished) - handed_over
            if ready and (ready >= self.flush_batch or time.monotonic() - oldest[0] >= self.flush_seconds):
                if store(finished[handed_over : handed_over + ready]):
                    handed_over += ready

        def keep_leases(unfinished: list[int]) -> None:
            """Extend the leases of each chunk with claims still running; one taken over fences them all."""
            live = {claims[index].claim_token or chunk.claim_token for index in unfinished} or {
                chunk.claim_token
            }
            for token in sorted(live):
                if database.heartbeat(self.engine, chunk.workflow_run_id, worker, [token]) == 0:
                    log.warning("the chunk's claims were taken over: stopping it", run_id=chunk.workflow_run_id,
                                worker=worker, conversation=chunk.conversation)  # fmt: skip
                    fenced.set()
                    return

        actor, key = self._actor(chunk)
        timeout = chunk.actor.timeout_seconds

        def stopping() -> bool:
            return self._abandon.is_set() or fenced.is_set()

        guarded = is_guarded(chunk.actor) and not isinstance(actor, UnavailableActor)
        if guarded:
            actor = GuardedActor(actor, chunk.actor, self.engine, worker, chunk.workflow_run_id,
                                 chunk.conversation_id, stopping)  # fmt: skip
            timeout = actor.deadline_seconds
            actor.prefetch([claim.task() for claim in chunk.claims])
        concurrency = (
            chunk.actor.max_concurrency or servers_capacity(chunk.actor) or DEFAULT_ACTOR_CONCURRENCY
        )
        with self._actors_lock:  # one cap per worker and actor: a call that overran in the last chunk counts
            slots = self._slots.setdefault((worker, key), threading.Semaphore(concurrency))
        gate = actor if isinstance(actor, GuardedActor) else None
        try:
            outcomes = execute_chunk(
                actor,
                [claim.task() for claim in chunk.claims],
                concurrency=concurrency,
                slots=slots,
                timeout=timeout,
                wait_interval=min(self.heartbeat_seconds, chunk.lease_seconds / 3),  # leases outlive 2 misses
                while_waiting=keep_leases,
                stop_now=stopping,
                on_outcome=on_outcome,
                tick=store_some,
                more_tasks=next_chunk if guarded else None,
                start_no_more=self._stop.is_set,
                thread_done=gate.hand_back if gate else None,
            )
        finally:
            if gate:  # the permits of threads that have not ended yet
                gate.hand_back(every_thread=True)
        return finished[handed_over:], all(outcome is not None for outcome in outcomes)

    def _actor(self, chunk: Chunk) -> tuple[Actor, str]:
        """The chunk's actor, built once per process for each version of its row, and that version's key."""
        spec = chunk.actor
        key = json.dumps([spec.actor_id, spec.actor_type, spec.config, spec.timeout_seconds, spec.max_concurrency],
                         sort_keys=True)  # fmt: skip
        with self._actors_lock:
            if key not in self._actors:
                self._actors[key] = build_actor(spec)
            return self._actors[key], key
