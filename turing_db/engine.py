"""The orchestration functions in SQL, one Python function each.

Starting a run, claiming a wave chunk, completing it, heartbeats, releasing claims and stopping a
worker are PL/pgSQL functions (procedures/07xx); this module only calls them with bound parameters,
each in its own short transaction, and shapes their rows. It decides nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from turing_db.actors import Outcome


@dataclass(frozen=True)
class RunStart:
    workflow_run_id: int
    resumed: bool
    postings_routed: int
    postings_in_run: int


@dataclass(frozen=True)
class Claim:
    posting_id: int
    conversation_id: int
    canonical_name: str
    actor_id: int
    actor_name: str
    actor_type: str
    actor_config: dict[str, Any]
    timeout_seconds: float
    max_concurrency: int | None
    prompt: str
    attempt: int
    claim_token: uuid.UUID
    lease_expires_at: str
    context: dict[str, Any]


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


def start_run(
    engine: Engine,
    workflow_id: int,
    worker: str,
    *,
    join: bool = False,
    resume_run_id: int | None = None,
    posting_limit: int | None = None,
) -> RunStart:
    with engine.begin() as conn:
        row = conn.execute(
            text("SELECT * FROM start_run(:workflow, :worker, :join, :resume, :limit)"),
            {
                "workflow": workflow_id,
                "worker": worker,
                "join": join,
                "resume": resume_run_id,
                "limit": posting_limit,
            },
        ).one()
    return RunStart(*row)


def claim_chunk(
    engine: Engine, run_id: int, worker: str, max_postings: int, wave_in_flight: int | None = None
) -> list[Claim]:
    """The next chunk of the current wave, one Claim per posting. Empty when nothing is left to claim,
    or when the wave is not `wave_in_flight` (the conversation of a completion still being written)."""
    with engine.begin() as conn:
        chunk = conn.execute(
            text("SELECT claim_chunk_v2(:run, :worker, :size, :in_flight)"),
            {"run": run_id, "worker": worker, "size": max_postings, "in_flight": wave_in_flight},
        ).scalar_one()
    if chunk is None:
        return []
    actor = chunk["actor"]
    token = uuid.UUID(chunk["claim_token"])
    return [
        Claim(
            posting_id=posting["posting_id"],
            conversation_id=chunk["conversation_id"],
            canonical_name=chunk["conversation"],
            actor_id=actor["actor_id"],
            actor_name=actor["actor_name"],
            actor_type=actor["actor_type"],
            actor_config=actor["config"] or {},
            timeout_seconds=actor["timeout_seconds"],
            max_concurrency=actor["max_concurrency"],
            prompt=posting["prompt"],
            attempt=posting["attempt"],
            claim_token=token,
            lease_expires_at=chunk["lease_expires_at"],
            context=posting["context"],
        )
        for posting in chunk["postings"]
    ]


def complete_chunk(
    engine: Engine, run_id: int, worker: str, results: Sequence[tuple[Claim, Outcome]]
) -> list[Completion]:
    payload = [
        {key: value for key, value in _result(claim, outcome).items() if value is not None}
        for claim, outcome in results
    ]
    with engine.begin() as conn:
        rows = conn.execute(
            text("SELECT * FROM complete_chunk(:run, :worker, CAST(:results AS jsonb))"),
            {"run": run_id, "worker": worker, "results": json.dumps(payload)},
        ).all()
    return [Completion(*row) for row in rows]


def _result(claim: Claim, outcome: Outcome) -> dict[str, Any]:
    """One result as complete_chunk() reads it (keys left out are NULL)."""
    return {
        "posting_id": claim.posting_id,
        "claim_token": str(claim.claim_token),
        "output": outcome.output,
        "sentinel": outcome.sentinel,
        "latency_ms": round(outcome.latency_ms, 3),
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "error_kind": outcome.error_kind,
        "error_message": outcome.error_message,
    }


def heartbeat(engine: Engine, run_id: int, worker: str, tokens: Sequence[uuid.UUID]) -> int:
    """Extend the leases of these claims; how many were still live."""
    return int(
        _scalar(engine, "SELECT heartbeat(:run, :worker, CAST(:tokens AS uuid[]))", run_id, worker, tokens)
    )


def release_claims(engine: Engine, run_id: int, worker: str, tokens: Sequence[uuid.UUID]) -> int:
    """Hand these claims back without counting a reclaim; how many were released."""
    return int(
        _scalar(
            engine, "SELECT release_claims(:run, :worker, CAST(:tokens AS uuid[]))", run_id, worker, tokens
        )
    )


def stop_worker(engine: Engine, run_id: int, worker: str) -> str:
    """Leave the run; the run's status afterwards."""
    return str(_scalar(engine, "SELECT stop_worker(:run, :worker)", run_id, worker))


def _scalar(
    engine: Engine, statement: str, run_id: int, worker: str, tokens: Sequence[uuid.UUID] = ()
) -> Any:
    """One call of a SQL function of a run and worker, in its own transaction."""
    with engine.begin() as conn:
        params = {"run": run_id, "worker": worker, "tokens": [str(token) for token in tokens]}
        return conn.execute(text(statement), params).scalar_one()


def run_progress(engine: Engine, run_id: int) -> Progress:
    with engine.connect() as conn:
        return Progress(*conn.execute(text("SELECT * FROM run_progress(:run)"), {"run": run_id}).one())


def run_summary(engine: Engine, run_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM run_summary(:run)"), {"run": run_id}).mappings().all()
    return [dict(row) for row in rows]


def refresh_performance_views(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("SELECT refresh_performance_views()"))
