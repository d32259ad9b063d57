"""Resilience shared by every worker: retries with backoff, and every call admitted by the database.

A guarded actor's every attempt asks `actor_admit()` first, so one circuit breaker, one concurrency
cap and one set of rate-limit buckets per actor hold across all workers and machines (per-process
libraries would give N workers N times the threshold and the budget), and tells `actor_settle()`
how it ended as soon as it does, so a breaker opens after `failure_threshold` failures across the
fleet, not after a chunk's worth per worker. A success (not a probe's) changes no breaker state, so
its permit goes back with the same thread's next admission, one round trip for both
(`actor_settle_and_admit()`), or when the thread ends. The decisions are SQL's; this module only waits and
retries as they say:
- `go`: call (one attempt of the actor), then settle with the outcome's class;
- `wait` (concurrency or a rate limit): sleep the time the database gave, then ask again;
- `open`: with `on_open: "fail"` the posting gets [CIRCUIT_OPEN] without a call, and its branches
  route it; with `"wait"` the call waits (its claim held, its lease kept) until the breaker
  half-opens and lets it through.
A retryable outcome (a timeout, a refused connection, a 5xx) or a 429 is retried up to
`retry.max_attempts`, after a full-jitter exponential backoff (`base_seconds` doubled per attempt, at
most `cap_seconds`) or the server's Retry-After when it gave one; a Retry-After longer than
`cap_seconds` defers the posting instead (back to the pool, not claimed again until then: no slot
is held meanwhile), at most `max_attempts` claims in a row. Fatal outcomes (4xx, invalid output)
are not retried. Every attempt but the last is logged in actor_calls when it is settled; the last is
logged with the posting's result.

Guarded are the actors that call a server (`ollama`, `openai`), and any actor whose config sets
`retry`, `breaker`, `rate_limit` or `cache: true`, or whose row sets `max_concurrency`: a plain python
or shell actor costs no database round trip per call. A python or shell actor is retried, and its
failures count against a breaker, only when its config sets `retry` / `breaker`: a cap alone changes
nothing else. A gate the database cannot answer defers that posting (`gate_unavailable`, not called:
back to the pool for 5 s).

The database also says where and whether to call: for an actor with several servers, `go` names the
server (`endpoint`) the call is sent to, each server having a breaker and cap of its own; for an actor
whose config sets `cache: true`, the admission carries the prompt (and the config this worker calls
with), and `cached` answers it from `response_cache` without a call (no permit, no tokens; recorded
as a cached call), while `wait` with reason `cache` says that another call for the same prompt is in
flight: one call per prompt, however many workers ask. Such an actor's successes are settled at once,
with their answer, for the others; `prefetch()` asks for a whole chunk's cached answers at once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.engine import Engine

from turing_db import database, metrics
from turing_db.actors import CIRCUIT_OPEN, TIMEOUT, Actor, ActorSpec, Outcome, Task
from turing_db.actors.base import FATAL, RATE_LIMITED, RETRYABLE
from turing_db.logs import get_logger
from turing_db.redaction import redact

log = get_logger(__name__)

SERVER_TYPES = ("ollama", "openai")
POLICY_KEYS = ("retry", "breaker", "rate_limit")
SLEEP_STEP_SECONDS = 0.2  # how soon a stopping worker's waits notice it
GATE_RETRY_SECONDS = 5.0  # a posting whose call the database could not admit is claimed again after this
HAND_BACK_WAIT_SECONDS = 5.0  # the most an ended execution waits for its threads' permits to go back
CONCURRENCY_WAIT_SECONDS = (0.02, 0.5)  # a call waiting for a free slot asks again after 20 ms, … 0.5 s


def is_guarded(spec: ActorSpec) -> bool:
    return (
        spec.actor_type in SERVER_TYPES
        or any(key in spec.config for key in POLICY_KEYS)
        or spec.max_concurrency is not None
        or caches(spec)
    )


def caches(spec: ActorSpec) -> bool:
    """config.cache: true: answers are stored in, and asked of, response_cache (actor_admit())."""
    return spec.config.get("cache") is True


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform between 0 and min(cap, base × 2^(attempt − 1))."""
    return rng.uniform(0, min(cap, base * 2 ** (attempt - 1)))


class GuardedActor:
    """One chunk's view of an actor: its calls go through the database's gate, retried as configured."""

    # the executor allows a guarded posting all the time it needs: waits for admission last as long as
    # the database says, and each attempt keeps its own deadline (an HTTP actor's, a shell command's
    # kill, and for a python callable the watch in `_call`)
    deadline_seconds = float("inf")

    def __init__(
        self,
        actor: Actor,
        spec: ActorSpec,
        engine: Engine,
        worker: str,
        run_id: int,
        conversation_id: int,
        stopping: Callable[[], bool] = lambda: False,
        rng: random.Random | None = None,
    ):
        if spec.actor_id is None:
            raise ValueError(f"actor {spec.actor_name} has no actor_id: it cannot be guarded")
        self.name = actor.name
        self.actor = actor
        self.spec = spec
        self.engine = engine
        self.worker = worker
        self.run_id = run_id
        self.conversation_id = conversation_id
        self.stopping = stopping
        self.rng = rng or random.Random()
        retry = spec.policy.get("retry") or {}  # actor_policy(): 1 attempt for a local actor unless set
        self.max_attempts = max(1, int(retry.get("max_attempts", 1)))
        self.base_seconds = float(retry.get("base_seconds", 1))
        self.cap_seconds = float(retry.get("cap_seconds", 30))
        self.on_open = (spec.policy.get("breaker") or {}).get("on_open", "fail")
        self.watched = spec.actor_type == "python"
        self.caches = caches(spec)
        # per thread: the permit of its last call if that succeeded, until the thread's next admission
        # hands it back in the same round trip (actor_settle_and_admit()), or `hand_back()` does
        self._held: dict[int, database.Held] = {}
        self._held_changed = threading.Condition()
        self._handing_back = 0  # threads settling held permits now
        self._prefetched: dict[int, str] = {}  # posting_id → its cached answer (prefetch())

    def prefetch(self, tasks: Sequence[Task]) -> None:
        """For an actor that caches: ask the cache for the answers of a whole chunk in one round trip,
        so those tasks need no admission each (a re-run answered from the cache pays per chunk). A
        cache the database cannot answer now is asked per task instead."""
        if not self.caches or not tasks:
            return
        try:
            found = database.cached_answers(
                self.engine, self._actor_id, [task.prompt for task in tasks], self.spec.config
            )
        except Exception as error:
            log.warning("could not read the response cache", actor=self.name, error=redact(str(error))[:200])
            return
        self._prefetched.update({tasks[index].posting_id: answer for index, answer in found.items()})

    def execute(self, task: Task) -> Outcome:
        if (answer := self._prefetched.pop(task.posting_id, None)) is not None:
            return Outcome(output=answer, cached=True)
        for attempt in range(1, self.max_attempts + 1):
            asked = time.perf_counter()
            try:
                admission = self._admitted(task)
            except Exception as error:  # the database refused or stayed away past the outage policy
                return self._gate_failed(error)
            if admission.decision == "cached":
                return Outcome(output=admission.answer or "", cached=True, attempt=attempt,
                               latency_ms=(time.perf_counter() - asked) * 1000)  # fmt: skip
            if admission.permit_id is None:
                return self._not_called(admission)
            try:
                called = self._call(replace(task, endpoint=admission.endpoint), admission)
            except BaseException:  # actors do not raise; if one does, its permit goes back, not counted
                self._settle(admission, FATAL)
                raise
            if called is None:  # a python callable overran: its permit goes back when it returns
                return Outcome(sentinel=TIMEOUT, error_kind="timeout", attempt=attempt,
                               error_message=f"{self.name} took longer than {self.spec.timeout_seconds:g} s")  # fmt: skip
            outcome = replace(called, attempt=attempt)
            delay = self._retry_delay(outcome, attempt)
            used = (outcome.prompt_tokens or 0) + (outcome.completion_tokens or 0)
            if outcome.failure_class is None and not admission.probe and not self.caches:
                with self._held_changed:  # handed back with the next admission
                    self._held[threading.get_ident()] = database.Held(admission.permit_id, used or None)
                return outcome
            logged = None if delay is None else self._call_row(task, outcome)
            answer = outcome.output if self.caches and outcome.ok else None  # for the others, at once
            settled = self._settle(admission, outcome.failure_class or "ok", used or None, logged, answer)
            if delay is None or not settled:  # final, or the call happened but could not be recorded
                return self._deferred(task, outcome)
            metrics.RETRIES.labels(self.name).inc()
            if not self._sleep(delay):
                return outcome  # the worker is stopping: this result is not stored anyway
        raise AssertionError("unreachable: the last attempt returns")

    def _call(self, task: Task, admission: database.Admission) -> Outcome | None:
        """One attempt. A python callable cannot be stopped, so it runs on a thread of its own, watched
        for its timeout: None when it overran (it goes on, and settles its permit when it returns, so
        the cap still counts it)."""
        if not self.watched:
            return self.actor.execute(task)
        done: list[Outcome] = []
        overran = threading.Event()

        def run() -> None:
            outcome = self.actor.execute(task)
            done.append(outcome)
            if overran.is_set():
                self._settle(admission, outcome.failure_class or "ok")

        thread = threading.Thread(target=run, name=f"actor-{self.name}-call", daemon=True)
        thread.start()
        thread.join(self.spec.timeout_seconds)
        if done:
            return done[0]
        overran.set()
        if done:  # it returned between the join and the flag: settle here after all
            return done[0]
        return None

    # -- the gate --------------------------------------------------------------------------------------

    def _admitted(self, task: Task) -> database.Admission:
        """Ask until the database says go or open (waiting in between as it says); `open` with
        on_open "wait" waits too."""
        estimate = self._estimate(task)
        busy_wait = CONCURRENCY_WAIT_SECONDS[0]
        while True:
            with self._held_changed:  # lost if the admission fails: its lease frees the slot then
                held = self._held.pop(threading.get_ident(), None)
            admission = database.actor_admit(
                self.engine, self._actor_id, self.worker, estimate, held,
                *((task.prompt, self.spec.config) if self.caches else ()),
            )  # fmt: skip
            if admission.changed_from is not None:
                log.warning(f"circuit breaker {admission.state}", actor=self.name, from_state=admission.changed_from,
                            state=admission.state)  # fmt: skip
            if admission.decision in ("go", "cached"):
                return admission
            if admission.decision == "open" and self.on_open != "wait":
                return admission
            metrics.WAITS.labels(self.name, admission.reason or "breaker").inc()
            wait = admission.wait_seconds
            if admission.reason in ("concurrency", "cache"):  # no slot, or the same prompt is in flight:
                wait, busy_wait = busy_wait, min(busy_wait * 2, CONCURRENCY_WAIT_SECONDS[1])  # ask less often
            if not self._sleep(max(wait, 0.01)):
                return admission

    def hand_back(self, every_thread: bool = False) -> None:
        """Give back the permit this thread still holds (the executor calls this as each of its threads
        ends); or, once the execution has ended (the runner), those of every thread, and wait for the
        threads handing theirs back, so that none is left to its lease when the process exits."""
        with self._held_changed:
            if every_thread:
                held, self._held = list(self._held.values()), {}
            else:
                held = [permit] if (permit := self._held.pop(threading.get_ident(), None)) else []
            self._handing_back += 1
        try:
            for permit in held:  # one attempt each: in an outage, the permit's lease frees its slot instead
                try:
                    database.actor_settle_once(
                        self.engine, permit.permit_id, self._actor_id, "ok", permit.tokens
                    )
                except Exception as error:
                    log.warning("could not settle a call with the database", actor=self.name,
                                error=redact(str(error))[:200])  # fmt: skip
        finally:
            with self._held_changed:
                self._handing_back -= 1
                self._held_changed.notify_all()
                if every_thread:
                    self._held_changed.wait_for(
                        lambda: self._handing_back == 0, timeout=HAND_BACK_WAIT_SECONDS
                    )

    def _settle(self, admission: database.Admission, outcome_class: str, tokens: int | None = None,
                logged: dict[str, Any] | None = None, answer: str | None = None) -> bool:  # fmt: skip
        """Give the permit back with the call's outcome (and a success's answer, for the cache); False
        when the database could not take it (the permit's lease frees the slot then)."""
        assert admission.permit_id is not None
        try:
            state, changed_from = database.actor_settle(
                self.engine, admission.permit_id, self._actor_id, outcome_class, tokens, logged, answer
            )
        except Exception as error:
            log.warning(
                "could not settle a call with the database", actor=self.name, error=redact(str(error))[:200]
            )
            return False
        if changed_from is not None:
            log.warning(f"circuit breaker {state}", actor=self.name, from_state=changed_from, state=state)
        return True

    def _gate_failed(self, error: Exception) -> Outcome:
        """The database could not admit the call: not called, and the posting goes back to the pool for
        a while (deferred), rather than down its error branches for a fault of the gate's."""
        log.warning("the actor's gate is unavailable", actor=self.name, error=redact(str(error))[:200])
        return Outcome(sentinel=CIRCUIT_OPEN, error_kind="gate_unavailable", failed_as=FATAL,
                       defer_seconds=GATE_RETRY_SECONDS,
                       error_message=f"{self.name}: not called: the database could not admit the call")  # fmt: skip

    @property
    def _actor_id(self) -> int:
        assert self.spec.actor_id is not None
        return self.spec.actor_id

    def _estimate(self, task: Task) -> int:
        estimate = getattr(self.actor, "estimate_tokens", None)
        return int(estimate(task)) if callable(estimate) else -(-len(task.prompt) // 4)

    def _not_called(self, admission: database.Admission) -> Outcome:
        if admission.decision == "open":
            message = (f"the circuit breaker of {self.name} is {admission.state}: not called "
                       f"(it lets a probe through in {admission.wait_seconds:.0f} s)")  # fmt: skip
            return Outcome(
                sentinel=CIRCUIT_OPEN, error_kind="circuit_open", error_message=message, failed_as=FATAL
            )
        return Outcome(sentinel=CIRCUIT_OPEN, error_kind="stopped", failed_as=FATAL,
                       error_message=f"{self.name}: the worker stopped while the call waited")  # fmt: skip

    # -- retries ---------------------------------------------------------------------------------------

    def _retry_delay(self, outcome: Outcome, attempt: int) -> float | None:
        """How long to wait before the next attempt; None: this outcome is final."""
        if outcome.failure_class not in (RETRYABLE, RATE_LIMITED) or attempt >= self.max_attempts:
            return None
        if outcome.retry_after is not None:
            return outcome.retry_after if outcome.retry_after <= self.cap_seconds else None
        return backoff_seconds(attempt, self.base_seconds, self.cap_seconds, self.rng)

    def _deferred(self, task: Task, outcome: Outcome) -> Outcome:
        """A Retry-After longer than cap_seconds defers the posting (back to the pool until then) rather
        than hold a slot, while its claims have attempts left: a posting is claimed at most max_attempts
        times in a row this way."""
        waited_too_long = outcome.retry_after is not None and outcome.retry_after > self.cap_seconds
        if waited_too_long and int(task.context.get("attempt", 1)) < self.max_attempts:
            return replace(outcome, defer_seconds=outcome.retry_after)
        return outcome

    def _call_row(self, task: Task, outcome: Outcome) -> dict[str, Any]:
        """An attempt that will be retried, as actor_settle() logs it in actor_calls."""
        return {
            "workflow_run_id": self.run_id,
            "posting_id": task.posting_id,
            "conversation_id": self.conversation_id,
            "error_kind": outcome.error_kind,
            "latency_ms": round(outcome.latency_ms, 3),
            "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": outcome.completion_tokens,
            "attempt": outcome.attempt,
            "http_status": outcome.http_status,
        }

    def _sleep(self, seconds: float) -> bool:
        """Sleep, waking early when the worker stops; whether it slept the whole time."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            if self.stopping():
                return False
            time.sleep(min(left, SLEEP_STEP_SECONDS))
        return not self.stopping()
