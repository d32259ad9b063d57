"""The calls into the database: every statement the package runs, one Python function each.

Starting a run, claiming a wave chunk, completing it, heartbeats, releasing claims, validating,
importing postings and the reports are SQL functions and views (procedures/); this module calls them
with bound parameters, each in its own short transaction, and shapes their rows. It decides nothing.
The calls a running worker repeats are retried here while the database is unreachable
(`retry_while_unreachable`), so the runner never wraps a call. Only the provisioning tools, which run
procedures/ files and read the catalog for the schema file, run SQL elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache, wraps
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential

from turing_db.actors import FAILED, ActorSpec, Outcome, Task
from turing_db.logs import get_logger
from turing_db.redaction import redact
from turing_db.settings import RunLimits, load_run_limits
from turing_db.validation import Finding, ValidationReport, WorkflowInvalid

log = get_logger(__name__)

MAX_OUTPUT_BYTES = RunLimits().max_output_bytes  # an output over this fails its posting (output_too_large)
RETRY_WAIT_CAP_SECONDS = 15
# every connection: a name in pg_stat_activity, a bounded connect, and TCP keepalives on both ends
# (libpq's for the client, the server's settings in SERVER_KEEPALIVES), so a dropped network is
# noticed within about a minute and its backend, with its locks, ends
CONNECT_ARGS: dict[str, Any] = {"application_name": "turing_db", "connect_timeout": 10, "keepalives": 1,
                                "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}  # fmt: skip
SERVER_KEEPALIVES = ("-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3 "
                     "-c tcp_user_timeout=60000")  # fmt: skip
WORKER_TAKEN_OVER = "TD002"  # claim_chunk_v2(): another start took this worker's run over meanwhile
RECONNECT_HOOKS: list[Callable[[], None]] = []  # run before a retry (turing_db.liveness re-takes its locks)
WORKFLOW_INVALID = "TD001"  # the SQLSTATE start_run() refuses an invalid workflow with
CRON_JOBS = ("refresh-actor-performance", "sweep-expired-claims", "prune-response-cache")
P = ParamSpec("P")
T = TypeVar("T")


# -- the retry policy --------------------------------------------------------------------------------


def database_unreachable(error: BaseException) -> bool:
    """A lost or refused connection, or a transaction the database rolled back to resolve a conflict
    (deadlock, serialization failure: SQLSTATE class 40), as opposed to an error it reported."""
    if not isinstance(error, OperationalError):
        return False
    code = getattr(error.orig, "pgcode", None)
    return error.connection_invalidated or code is None or code.startswith("40")


def retry_while_unreachable(call: Callable[P, T]) -> Callable[P, T]:
    """Retry `call` with capped exponential backoff while the database is unreachable (a restart, a
    failover, a network blip), for up to TURING_DB_OUTAGE_SECONDS (10 minutes), with a log line per
    attempt; before each retry the RECONNECT_HOOKS run (the worker's liveness locks are taken again).

    Safe for every call a worker makes: a completion whose commit went through before the connection
    broke is refused as stale on the retry, a lost claim returns when its lease ends, and a
    rolled-back transaction changed nothing. An error the database reports is raised at once.
    """

    def reconnect(state: RetryCallState) -> None:
        if state.attempt_number > 1:
            for hook in list(RECONNECT_HOOKS):
                hook()

    @wraps(call)
    def retried(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in Retrying(
            retry=retry_if_exception(database_unreachable),
            stop=stop_after_delay(outage_seconds()),
            wait=wait_exponential(multiplier=0.5, max=RETRY_WAIT_CAP_SECONDS),
            before=reconnect,
            before_sleep=lambda state: log.warning(
                "database unreachable, retrying",
                call=call.__name__,
                attempt=state.attempt_number,
                waited_seconds=round(state.seconds_since_start or 0.0, 1),
                error=str(getattr(state.outcome.exception(), "orig", "") if state.outcome else "").strip()[
                    :200
                ],
            ),  # fmt: skip
            reraise=True,
        ):
            with attempt:
                return call(*args, **kwargs)
        raise AssertionError("unreachable")  # Retrying either returns or re-raises

    return retried


@cache
def outage_seconds() -> int:
    """How long a worker waits out an unreachable database (TURING_DB_OUTAGE_SECONDS, read once)."""
    return load_run_limits().outage_seconds


# -- what the calls return ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStart:
    workflow_run_id: int
    resumed: bool
    postings_routed: int
    postings_in_run: int


@dataclass(frozen=True)
class Claim:
    """One posting of a chunk: its rendered prompt, its claim attempt and the context actors see."""

    posting_id: int
    prompt: str
    attempt: int
    context: dict[str, Any]
    claim_token: uuid.UUID | None = None  # its chunk's (results of several chunks may go back together)

    def task(self) -> Task:
        """What the actor is given."""
        return Task(self.posting_id, self.prompt, self.context)


@dataclass(frozen=True)
class Chunk:
    """Postings of one wave claimed together: one conversation, one actor, one claim token and lease."""

    workflow_run_id: int
    conversation_id: int
    conversation: str
    claim_token: uuid.UUID
    lease_expires_at: str
    actor: ActorSpec
    claims: list[Claim]
    lease_seconds: float = 300.0
    suspect: bool = False  # one posting reclaimed twice, claimed alone (a poison posting may kill its worker)

    @classmethod
    def from_json(cls, chunk: dict[str, Any]) -> Chunk:
        """The document claim_chunk_v2() returns."""
        actor = chunk["actor"]
        token = uuid.UUID(chunk["claim_token"])
        return cls(
            workflow_run_id=chunk["workflow_run_id"],
            conversation_id=chunk["conversation_id"],
            conversation=chunk["conversation"],
            claim_token=token,
            lease_expires_at=chunk["lease_expires_at"],
            lease_seconds=float(chunk.get("lease_seconds") or 300),
            suspect=bool(chunk.get("suspect")),
            actor=ActorSpec(
                actor_id=actor["actor_id"],
                actor_name=actor["actor_name"],
                actor_type=actor["actor_type"],
                config=actor["config"] or {},
                timeout_seconds=float(actor["timeout_seconds"]),
                max_concurrency=actor["max_concurrency"],
                policy=actor.get("policy") or {},
            ),
            claims=[
                Claim(posting["posting_id"], posting["prompt"], posting["attempt"], posting["context"], token)
                for posting in chunk["postings"]
            ],
        )


@dataclass(frozen=True)
class Completion:
    posting_id: int
    accepted: bool
    state: str | None
    next_conversation: str | None
    note: str | None


@dataclass(frozen=True)
class Progress:
    waiting: int
    claimed: int
    done: int
    failed: int
    quarantined: int

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.quarantined

    @property
    def total(self) -> int:
        return self.waiting + self.claimed + self.finished


@dataclass(frozen=True)
class RunOverview:
    """A run as `run_overview` shows it."""

    workflow_run_id: int
    workflow_id: int
    status: str
    started_at: datetime
    finished_at: datetime | None
    progress: Progress


@dataclass(frozen=True)
class HealthFacts:
    """What `turing health` judges: the server, pg_cron's preload and extension, the migration
    revision, and the state of our cron jobs by name (schedule, active, last run)."""

    server_version: str
    database: str
    cron_database: str | None
    has_pg_cron: bool
    revision: str | None
    cron_jobs: dict[str, tuple[str, bool, str | None]]


# -- a run: start, claim, complete, heartbeat, release, stop -----------------------------------------


def start_run(
    engine: Engine,
    workflow_id: int,
    worker: str,
    *,
    join: bool = False,
    resume_run_id: int | None = None,
    posting_limit: int | None = None,
    holds_lock: bool = False,
) -> RunStart:
    """Open, resume, take over or join the workflow's run; raise WorkflowInvalid (with every finding)
    when the workflow has errors. `holds_lock`: the worker's liveness session holds its worker_lock().
    Not retried: a start that fails is reported at once."""
    try:
        with engine.begin() as conn:
            lift_statement_timeout(conn)  # routing a large backlog may take a while
            row = conn.execute(
                text("SELECT * FROM start_run(:workflow, :worker, :join, :resume, :limit, :holds_lock)"),
                {"workflow": workflow_id, "worker": worker, "join": join, "resume": resume_run_id,
                 "limit": posting_limit, "holds_lock": holds_lock},
            ).one()  # fmt: skip
    except DBAPIError as error:
        diag = getattr(error.orig, "diag", None)
        if getattr(error.orig, "pgcode", None) == WORKFLOW_INVALID and diag is not None:
            findings = tuple(Finding(**finding) for finding in json.loads(diag.message_detail))
            raise WorkflowInvalid(ValidationReport(workflow_id, findings)) from None
        raise
    return RunStart(*row)


def claim_chunk_once(
    engine: Engine, run_id: int, worker: str, max_postings: int, wave_in_flight: int | None = None
) -> Chunk | None:
    """The next chunk of the current wave. None when nothing is left to claim, or when the wave is
    not `wave_in_flight` (the conversation of a completion still being written)."""
    try:
        with engine.begin() as conn:
            chunk = conn.execute(
                text("SELECT claim_chunk_v2(:run, :worker, :size, :in_flight)"),
                {"run": run_id, "worker": worker, "size": max_postings, "in_flight": wave_in_flight},
            ).scalar_one()
    except DBAPIError as error:
        if getattr(error.orig, "pgcode", None) == WORKER_TAKEN_OVER:
            return None  # worker_state() says so next
        raise
    return None if chunk is None else Chunk.from_json(chunk)


claim_chunk = retry_while_unreachable(claim_chunk_once)  # the worker's claims wait out an outage


@retry_while_unreachable
def complete_chunk(
    engine: Engine,
    worker: str,
    chunk: Chunk,
    results: Sequence[tuple[Claim, Outcome]],
    max_output_bytes: int = MAX_OUTPUT_BYTES,
) -> list[Completion]:
    """Hand results of `chunk` back; one Completion per posting (accepted False: a stale claim). An
    output the database cannot store fails its posting alone (`storable()`)."""
    payload = [
        {
            key: value
            for key, value in _result(
                str(claim.claim_token or chunk.claim_token), claim, storable(outcome, max_output_bytes)
            ).items()  # fmt: skip
            if value is not None
        }  # fmt: skip
        for claim, outcome in results
    ]
    with engine.begin() as conn:
        rows = conn.execute(
            text("SELECT * FROM complete_chunk(:run, :worker, CAST(:results AS jsonb))"),
            {"run": chunk.workflow_run_id, "worker": worker, "results": json.dumps(payload)},
        ).all()
    return [Completion(*row) for row in rows]


def storable(outcome: Outcome, max_output_bytes: int = MAX_OUTPUT_BYTES) -> Outcome:
    """The outcome as the database can store it: an output that PostgreSQL's text refuses (a NUL
    character, an unpaired surrogate) or that is larger than `max_output_bytes` fails its posting
    alone with [FAILED] (`unstorable_output`, `output_too_large`) instead of failing the whole batch;
    an error message is made storable rather than refused, and redacted of known secrets (a
    password or an API key an actor echoed never reaches a table)."""
    if outcome.error_message is not None:
        message = redact(outcome.error_message)
        if not _is_storable(message):
            message = _make_storable(message)
        if message != outcome.error_message:
            outcome = replace(outcome, error_message=message)
    if outcome.sentinel is not None:
        return replace(outcome, output="")  # an error outcome stores its sentinel, not its output
    problem, kind = None, "unstorable_output"
    if "\x00" in outcome.output:
        problem = "the output contains a NUL character, which PostgreSQL text cannot store"
    else:
        try:
            size = len(outcome.output.encode("utf-8"))
        except UnicodeEncodeError as error:
            problem = f"the output contains an unpaired surrogate (U+{ord(outcome.output[error.start]):04X})"
        else:
            if size > max_output_bytes:
                problem, kind = (
                    f"the output is {size} bytes, over the limit of {max_output_bytes}",
                    "output_too_large",
                )
    if problem is None:
        return outcome
    return replace(outcome, output="", sentinel=FAILED, error_kind=kind, error_message=problem)


def _is_storable(text: str) -> bool:
    return "\x00" not in text and not any("\ud800" <= character <= "\udfff" for character in text)


def _make_storable(text: str) -> str:
    return text.replace("\x00", "\ufffd").encode("utf-8", errors="replace").decode("utf-8")


def _result(token: str, claim: Claim, outcome: Outcome) -> dict[str, Any]:
    """One result as complete_chunk() reads it (keys left out are NULL)."""
    return {
        "posting_id": claim.posting_id,
        "claim_token": token,
        "output": outcome.output,
        "sentinel": outcome.sentinel,
        "latency_ms": round(outcome.latency_ms, 3),
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "error_kind": outcome.error_kind,
        "error_message": outcome.error_message,
        "attempt": outcome.attempt if outcome.attempt != 1 else None,
        "http_status": outcome.http_status,
        "load_ms": None if outcome.load_ms is None else round(outcome.load_ms, 3),
        "defer_seconds": outcome.defer_seconds,
        "cached": outcome.cached or None,
    }


@retry_while_unreachable
def heartbeat(engine: Engine, run_id: int, worker: str, tokens: Sequence[uuid.UUID]) -> int:
    """Extend the leases of these claims; how many were still live."""
    return int(
        _call(engine, "SELECT heartbeat(:run, :worker, CAST(:tokens AS uuid[]))", run_id, worker, tokens)
    )


def release_claims_once(engine: Engine, run_id: int, worker: str, tokens: Sequence[uuid.UUID]) -> int:
    """Hand these claims back without counting a reclaim; how many postings were released. One
    attempt: on the way out of a failure, waiting for the database would only delay the error."""
    return int(
        _call(engine, "SELECT release_claims(:run, :worker, CAST(:tokens AS uuid[]))", run_id, worker, tokens)
    )


release_claims = retry_while_unreachable(release_claims_once)


@retry_while_unreachable
def stop_worker(engine: Engine, run_id: int, worker: str) -> str:
    """Leave the run; the run's status afterwards."""
    return str(_call(engine, "SELECT stop_worker(:run, :worker)", run_id, worker))


def _call(engine: Engine, statement: str, run_id: int, worker: str, tokens: Sequence[uuid.UUID] = ()) -> Any:
    """One call of a SQL function of a run and worker, in its own transaction."""
    with engine.begin() as conn:
        params = {"run": run_id, "worker": worker, "tokens": [str(token) for token in tokens]}
        return conn.execute(text(statement), params).scalar_one()


# -- actor gates: the circuit breaker, concurrency cap and rate limits every worker shares ------------


@dataclass(frozen=True)
class Admission:
    """actor_admit()'s answer: `decision` is 'go' (with a permit, and the server to call when the
    actor has several), 'cached' (the answer, from response_cache), 'wait' (ask again after
    `wait_seconds`) or 'open' (the breaker refuses the call; `on_open` says what to do)."""

    decision: str
    permit_id: uuid.UUID | None = None
    probe: bool = False
    state: str | None = None
    reason: str | None = None
    wait_seconds: float = 0.0
    on_open: str | None = None
    changed_from: str | None = None  # this admission half-opened the breaker (it was open)
    endpoint: str | None = None  # the server to call ('' or None: the actor's only one)
    answer: str | None = None  # decision 'cached': the stored answer


@dataclass(frozen=True)
class Held:
    """A permit whose call succeeded, not handed back yet: its thread's next admission does that."""

    permit_id: uuid.UUID
    tokens: int | None  # the call's real usage, prompt and completion


# the gate's statements, run as the driver takes them (called twice per LLM call: no compilation)
ADMIT = "SELECT actor_admit(%(actor)s, %(worker)s, %(tokens)s, %(prompt)s, %(config)s)"
SETTLE_AND_ADMIT = "SELECT actor_settle_and_admit(%(permit)s, %(used)s, %(actor)s, %(worker)s, %(tokens)s, %(prompt)s, %(config)s)"
SETTLE = "SELECT * FROM actor_settle(%(permit)s, %(actor)s, %(outcome)s, %(tokens)s, %(call)s, %(answer)s)"


@retry_while_unreachable
def actor_admit(
    engine: Engine,
    actor_id: int,
    worker: str,
    estimated_tokens: int,
    succeeded: Held | None = None,
    prompt: str | None = None,
    config: dict[str, Any] | None = None,
) -> Admission:
    """May this worker call the actor now? One decision for all workers (actor_admit() in SQL).
    `succeeded`, a permit whose call succeeded, is handed back in the same round trip first; `prompt`,
    given for an actor that caches (with `config`, the actor's config as this worker calls it), may
    be answered from response_cache."""
    with _autocommit(engine) as conn:
        parameters = {"actor": actor_id, "worker": worker, "tokens": estimated_tokens, "prompt": prompt,
                      "config": None if config is None else json.dumps(config)}  # fmt: skip
        if succeeded is not None:
            parameters |= {"permit": str(succeeded.permit_id), "used": succeeded.tokens}
        answer = conn.exec_driver_sql(
            ADMIT if succeeded is None else SETTLE_AND_ADMIT, parameters
        ).scalar_one()
    permit = answer.get("permit_id")
    return Admission(
        decision=answer["decision"],
        permit_id=uuid.UUID(permit) if permit else None,
        probe=bool(answer.get("probe")),
        state=answer.get("state"),
        reason=answer.get("reason"),
        wait_seconds=float(answer.get("wait_seconds") or 0),
        on_open=answer.get("on_open"),
        changed_from=answer.get("changed_from"),
        endpoint=answer.get("endpoint") or None,
        answer=answer.get("answer"),
    )


@retry_while_unreachable
def cached_answers(
    engine: Engine, actor_id: int, prompts: Sequence[str], config: dict[str, Any]
) -> dict[int, str]:
    """The response cache's answers to these prompts of an actor that caches (`config`: as this worker
    calls it), by their index in `prompts` (cached_answers() in SQL: one round trip for a chunk)."""
    with _autocommit(engine) as conn:
        rows = conn.exec_driver_sql(
            "SELECT prompt_index, answer FROM cached_answers(%(actor)s, %(prompts)s, %(config)s)",
            {"actor": actor_id, "prompts": list(prompts), "config": json.dumps(config)},
        ).all()
    return {int(index) - 1: answer for index, answer in rows}


def actor_settle_once(
    engine: Engine,
    permit_id: uuid.UUID,
    actor_id: int,
    outcome_class: str,
    tokens: int | None,
    retried_call: dict[str, Any] | None = None,
    answer: str | None = None,
) -> tuple[str, str | None]:
    """A call admitted by actor_admit() ended as `outcome_class` ('ok', 'retryable', 'rate_limited',
    'fatal'); `retried_call` logs an attempt that will be retried; `answer`, a success's output, is
    cached when the call was admitted with a prompt of an actor that caches (an answer PostgreSQL
    text cannot hold is not: its posting fails at completion). The breaker's state afterwards, and the
    state it left if it changed."""
    if answer is not None and not _is_storable(answer):
        answer = None
    with _autocommit(engine) as conn:
        state, changed_from = conn.exec_driver_sql(SETTLE, {
            "permit": str(permit_id), "actor": actor_id, "outcome": outcome_class, "tokens": tokens,
            "call": None if retried_call is None else json.dumps(retried_call), "answer": answer}).one()  # fmt: skip
    return state, changed_from


actor_settle = retry_while_unreachable(actor_settle_once)  # a call's outcome waits out an outage


@contextmanager
def _autocommit(engine: Engine) -> Iterator[Connection]:
    """A pooled connection whose statements are each their own transaction: the server commits as the
    function returns, so the gate row's lock is held for the function alone, and no BEGIN or COMMIT
    round trip is paid (psycopg2's autocommit is a client-side switch, put back before the pool
    has the connection again)."""
    with engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        driver.autocommit = True  # type: ignore[union-attr]
        try:
            yield conn
        finally:
            if not conn.invalidated:
                driver.autocommit = False  # type: ignore[union-attr]


def reset_circuit_breaker(engine: Engine, actor_name: str) -> str | None:
    """Close an actor's breaker by hand; the state it left (None: it was closed)."""
    with engine.begin() as conn:
        return conn.execute(text("SELECT reset_circuit_breaker(:name)"), {"name": actor_name}).scalar_one()  # type: ignore[no-any-return]


def clear_response_cache(engine: Engine, actor_name: str | None = None, expired_only: bool = False) -> int:
    """Forget cached answers (every actor's, or `actor_name`'s; only expired ones); how many."""
    with engine.begin() as conn:
        return int(conn.execute(text("SELECT clear_response_cache(:name, :expired)"),
                                {"name": actor_name, "expired": expired_only}).scalar_one())  # fmt: skip


def response_cache_status(engine: Engine) -> list[dict[str, Any]]:
    """What the response cache holds, per actor (response_cache_status())."""
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(text("SELECT * FROM response_cache_status()")).mappings()]


def breakers(connection: Connection | Engine, not_closed: bool = False) -> list[dict[str, Any]]:
    """Every actor's breaker (or those not closed): actor_name, state, failures_in_window, retry_at."""
    query = text("SELECT actor_name, state, failures_in_window, retry_at FROM circuit_breakers "
                 "WHERE NOT :not_closed OR state <> 'closed' ORDER BY actor_name")  # fmt: skip
    with (
        connection.connect() if isinstance(connection, Engine) else contextlib.nullcontext(connection) as conn
    ):
        return [dict(row) for row in conn.execute(query, {"not_closed": not_closed}).mappings()]


def actor_overview(engine: Engine) -> list[dict[str, Any]]:
    """Every actor with its breaker (the view circuit_breakers) and its calls and tokens
    (actor_performance_summary, as last refreshed)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT breaker.*, actor.config ->> 'model' AS model, coalesce(summary.total_calls, 0) AS calls, "
            "summary.success_rate_pct, coalesce(summary.failed_calls, 0) AS failed_calls, "
            "coalesce(summary.total_prompt_tokens, 0) AS prompt_tokens, "
            "coalesce(summary.total_completion_tokens, 0) AS completion_tokens, "
            "actor.policy -> 'rate_limit' AS rate_limit "
            "FROM circuit_breakers AS breaker JOIN actors AS actor USING (actor_id) "
            "LEFT JOIN actor_performance_summary AS summary USING (actor_id) ORDER BY breaker.actor_name"
        )).mappings().all()  # fmt: skip
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class WorkerState:
    run_status: str
    worker_stopped: bool
    waiting: int
    claimed: int
    next_step: str  # 'wait', or why to stop: 'done', 'taken_over', 'run_ended' (worker_state() decides)


@retry_while_unreachable
def worker_state(engine: Engine, run_id: int, worker: str) -> WorkerState:
    """The run's status, whether this worker was taken over, and what of the run is left (first, the
    claims of the run's dead workers go back to the pool: committed)."""
    with engine.begin() as conn:
        row = conn.execute(
            text("SELECT * FROM worker_state(:run, :worker)"), {"run": run_id, "worker": worker}
        )
        return WorkerState(*row.one())


def hold_worker_locks(connection: Connection, workers: Sequence[str]) -> list[str]:
    """Take each worker's session-level liveness lock on `connection`, without waiting; the workers
    whose lock another session holds (a backend of this process that outlived its connection)."""
    refused = []
    for worker in workers:
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(lock_space, lock_key) FROM worker_lock(:w)"), {"w": worker}
        ).scalar_one()
        connection.commit()
        if not taken:
            refused.append(worker)
    return refused


def ping_connection(connection: Connection) -> None:
    """One round trip (and no transaction left open); raises when the database cannot be reached."""
    connection.execute(text("SELECT 1"))
    connection.commit()


@retry_while_unreachable
def run_progress(engine: Engine, run_id: int) -> Progress:
    with engine.connect() as conn:
        return Progress(*conn.execute(text("SELECT * FROM run_progress(:run)"), {"run": run_id}).one())


@retry_while_unreachable
def run_summary(engine: Engine, run_id: int) -> list[dict[str, Any]]:
    """Per conversation of the run: postings completed, ended, failed, quarantined; calls and latency."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM run_summary(:run)"), {"run": run_id}).mappings().all()
    return [dict(row) for row in rows]


def refresh_performance_views(engine: Engine) -> None:
    with engine.begin() as conn:
        lift_statement_timeout(conn)  # a large call log takes a while
        conn.execute(text("SELECT refresh_performance_views()"))


# -- validation ----------------------------------------------------------------------------------------


def validate_workflow(connection: Connection | Engine, workflow_id: int) -> ValidationReport:
    """Every finding of validate_workflow(workflow_id)."""
    if isinstance(connection, Engine):
        with connection.connect() as conn:
            return validate_workflow(conn, workflow_id)
    rows = connection.execute(
        text("SELECT severity, check_name, conversation, message FROM validate_workflow(:workflow_id)"),
        {"workflow_id": workflow_id},
    )
    return ValidationReport(workflow_id, tuple(Finding(*row) for row in rows))


@dataclass(frozen=True)
class Fix:
    """One safe fix of fix_workflow(): what, where, why it is safe, its SQL, and what became of it
    ('applied', 'would apply', or 'rolled back: …')."""

    fix: str
    conversation: str | None
    reason: str
    statement: str
    outcome: str


def fix_workflow(engine: Engine, workflow_id: int, apply: bool) -> list[Fix]:
    """The safe fixes of a workflow, made (all or none, in one transaction) when `apply`; else only
    listed (workflow_fixes(), which a reader may run too)."""
    query = ("SELECT * FROM fix_workflow(:workflow_id)" if apply else
             "SELECT fix, conversation, reason, statement, 'would apply' FROM workflow_fixes(:workflow_id)")  # fmt: skip
    with engine.begin() as conn:
        return [Fix(*row) for row in conn.execute(text(query), {"workflow_id": workflow_id})]


def use_llm(engine: Engine, mode: str, base_url: str | None) -> list[str]:
    """Point workflow 3001's model steps at the local server's actors ('local') or back ('offline')."""
    with engine.begin() as conn:
        return list(
            conn.execute(text("SELECT use_llm(:mode, :url)"), {"mode": mode, "url": base_url}).scalars()
        )


# -- postings --------------------------------------------------------------------------------------------


def insert_postings(
    engine: Engine, batches: Iterable[list[dict[str, Any]]]
) -> list[tuple[int, int | None, int | None]]:
    """Insert validated rows (each with its `line`) in one transaction, a batch per insert_postings()
    call; (line, posting_id or None for a duplicate, the stored posting it duplicates)."""
    outcome: list[tuple[int, int | None, int | None]] = []
    with engine.begin() as conn:
        for batch in batches:
            rows = conn.execute(
                text("SELECT * FROM insert_postings(CAST(:rows AS jsonb))"), {"rows": json.dumps(batch)}
            )
            outcome.extend((line, posting_id, existing) for line, posting_id, existing in rows)
        if any(posting_id is not None for _, posting_id, _ in outcome):
            conn.execute(text("ANALYZE public.postings"))  # fresh rows have no statistics: plan with them
    return outcome


def count_postings(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM public.postings")).scalar_one())


def retry_postings(engine: Engine, posting_id: int | None = None, conversation: str | None = None) -> int:
    """Put failed postings back in (one, those that failed from a conversation, or all): how many."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                text("SELECT retry_postings(:posting, :conversation)"),
                {"posting": posting_id, "conversation": conversation},
            ).scalar_one()
        )


def posting_counts(engine: Engine) -> dict[str, int]:
    """Postings in all, complete, quarantined, disabled and pending, as posting_counts() counts them."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM posting_counts()")).mappings().one()
    return {key: int(value) for key, value in row.items()}


# -- reports -----------------------------------------------------------------------------------------------


def latest_runs(engine: Engine, limit: int = 10) -> list[RunOverview]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM run_overview ORDER BY workflow_run_id DESC LIMIT :limit"), {"limit": limit}
        ).all()
    return [
        RunOverview(row.workflow_run_id, row.workflow_id, row.status, row.started_at, row.finished_at,
                    Progress(row.waiting, row.claimed, row.done, row.failed, row.quarantined))
        for row in rows
    ]  # fmt: skip


def run_status(engine: Engine, run_id: int) -> dict[str, Any] | None:
    """One run as `turing status --run` shows it (run_status() in SQL); None when there is no such run."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT run_status(:run)"), {"run": run_id}).scalar_one()  # type: ignore[no-any-return]


def recent_errors(engine: Engine, since_seconds: float, run_id: int | None = None) -> list[dict[str, Any]]:
    """Failed calls of the last `since_seconds`, grouped by actor, conversation and kind (recent_errors())."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM recent_errors(make_interval(secs => :since), :run)"),
            {"since": since_seconds, "run": run_id},
        ).mappings().all()  # fmt: skip
    return [dict(row) for row in rows]


def prune_finished_runs(engine: Engine, older_than_seconds: float) -> dict[str, int]:
    """Delete the logs of runs finished more than `older_than_seconds` ago; what went, per table."""
    with engine.begin() as conn:
        lift_statement_timeout(conn)  # a first prune of a year of logs may take a while
        row = conn.execute(text("SELECT * FROM prune_finished_runs(make_interval(secs => :age))"),
                           {"age": older_than_seconds}).mappings().one()  # fmt: skip
    return {key: int(value) for key, value in row.items()}


def health_facts(engine: Engine) -> HealthFacts:
    """Read what `turing health` checks; works on a database that is not migrated yet, and for a
    worker or reader through cron_status() (pg_cron's setting and table are not theirs to read)."""
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        has_cron = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_cron'")).first()
        revision = None
        if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is not None:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        cron_database: str | None = None
        jobs: dict[str, tuple[str, bool, str | None]] = {}
        if conn.execute(text("SELECT to_regprocedure('public.cron_status()')")).scalar() is not None:
            status = conn.execute(text("SELECT cron_status()")).scalar_one()
            cron_database = status["database_name"]
            jobs = {name: (job["schedule"], job["active"], job["last_run"])
                    for name, job in status["jobs"].items() if name in CRON_JOBS}  # fmt: skip
        else:  # not migrated yet (no jobs either): the migrating role reads the setting itself
            cron_database = conn.execute(text("SELECT current_setting('cron.database_name', true)")).scalar()
    return HealthFacts(str(version), str(database), cron_database, bool(has_cron), revision, jobs)


def lift_statement_timeout(connection: Connection) -> None:
    """For this transaction only: no statement timeout (migrations may rewrite large tables)."""
    connection.execute(text("SET LOCAL statement_timeout = 0"))


def ping(engine: Engine) -> None:
    """One round trip on a pooled connection; raises OperationalError when the database cannot be reached."""
    with engine.connect() as conn:
        ping_connection(conn)
