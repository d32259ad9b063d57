"""Building small workflows for tests: a compact description in, rows in the tables out."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from turing_db import database
from turing_db.actors import Outcome
from turing_db.database import Chunk, Completion


@dataclass
class Step:
    """One conversation of a test workflow; `entry` is True (no stage) or a stage name."""

    name: str
    template: str = "Work on {job_title}"
    actor: str = "test_python"
    entry: bool | str = False
    max_visits: int | None = None


def build_workflow(
    conn: Connection,
    workflow_id: int,
    steps: list[Step],
    branches: list[tuple[str, str, str | None] | tuple[str, str, str | None, int]],
) -> None:
    """Insert a workflow from a compact description (inside the caller's transaction).

    Actors `test_python` (python), `test_shell` (shell) and `test_ollama` (ollama) exist; branches are
    (source, condition, target or None, [priority]); targets may name any conversation.
    """
    conn.execute(
        text(
            """
            INSERT INTO actors (actor_name, actor_type, config) VALUES
              ('test_python', 'python', '{"callable": "sample_actors:echo"}'),
              ('test_shell', 'shell', '{"command": ["cat"]}'),
              ('test_ollama', 'ollama', '{"model": "gemma3:4b", "url": "http://127.0.0.1:11434"}')
            ON CONFLICT (actor_name) DO NOTHING
            """
        )
    )
    conn.execute(
        text("INSERT INTO workflows (workflow_id, workflow_name) VALUES (:id, :name)"),
        {"id": workflow_id, "name": f"test workflow {workflow_id}"},
    )
    for order, step in enumerate(steps, start=1):
        conn.execute(
            text(
                """
                INSERT INTO conversations (conversation_name, canonical_name, actor_id)
                SELECT :name, :name, actor_id FROM actors WHERE actor_name = :actor
                ON CONFLICT (canonical_name) DO NOTHING;
                INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order,
                                                    is_entry_point, entry_stage, max_visits)
                SELECT :workflow, conversation_id, :order, :is_entry, :stage, :max_visits
                  FROM conversations WHERE canonical_name = :name;
                INSERT INTO instructions (conversation_id, prompt_template)
                SELECT conversation_id, :template FROM conversations WHERE canonical_name = :name;
                """
            ),
            {
                "name": step.name,
                "actor": step.actor,
                "workflow": workflow_id,
                "order": order * 10,
                "is_entry": bool(step.entry),
                "stage": step.entry if isinstance(step.entry, str) else None,
                "max_visits": step.max_visits,
                "template": step.template,
            },
        )
    for branch in branches:
        source, condition, target = branch[:3]
        priority = branch[3] if len(branch) == 4 else 100
        conn.execute(
            text(
                """
                INSERT INTO instruction_steps (instruction_id, branch_condition, next_conversation_id,
                                               branch_priority)
                SELECT i.instruction_id, :condition,
                       (SELECT conversation_id FROM conversations WHERE canonical_name = :target), :priority
                  FROM instructions i JOIN conversations c USING (conversation_id)
                 WHERE c.canonical_name = :source AND i.enabled
                """
            ),
            {"source": source, "condition": condition, "target": target, "priority": priority},
        )


def findings(conn: Connection, workflow_id: int) -> list[tuple[str, str, str | None]]:
    """(severity, check_name, conversation) of every finding except the 'ok' verdict."""
    rows = conn.execute(
        text("SELECT severity, check_name, conversation FROM validate_workflow(:id) WHERE severity <> 'ok'"),
        {"id": workflow_id},
    )
    return [(severity, check, conversation) for severity, check, conversation in rows]


def messages(conn: Connection, workflow_id: int) -> list[str]:
    """The message of every row validate_workflow() returns, in its order."""
    rows = conn.execute(text("SELECT message FROM validate_workflow(:id)"), {"id": workflow_id})
    return list(rows.scalars())


class CommittedWorkflows:
    """Build test workflows in committed transactions (for code that opens its own transactions) and
    remove them, with every run and posting, afterwards."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.workflow_ids: list[int] = []
        self.names: list[str] = []

    def build(self, workflow_id: int, steps: list[Step], branches: list) -> int:
        with self.engine.begin() as conn:
            build_workflow(conn, workflow_id, steps, branches)
        self.workflow_ids.append(workflow_id)
        self.names.extend(step.name for step in steps)
        return workflow_id

    def set_actor(self, actor: str, actor_type: str, config: dict, timeout: float = 30) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE actors SET actor_type = :type, config = CAST(:config AS jsonb), timeout_seconds = :timeout "
                    "WHERE actor_name = :name"
                ),
                {"type": actor_type, "config": json.dumps(config), "timeout": timeout, "name": actor},
            )

    def cleanup(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("TRUNCATE actor_calls, conversation_outputs, posting_state_checkpoints, posting_work, "
                              "run_workers, workflow_runs, postings RESTART IDENTITY CASCADE"))  # fmt: skip
            conn.execute(
                text("DELETE FROM workflows WHERE workflow_id = ANY(:ids)"), {"ids": self.workflow_ids}
            )
            conn.execute(
                text(
                    "DELETE FROM instruction_steps WHERE instruction_id IN (SELECT instruction_id FROM instructions "
                    "JOIN conversations USING (conversation_id) WHERE canonical_name = ANY(:names))"
                ),
                {"names": self.names},
            )
            conn.execute(
                text("DELETE FROM conversations WHERE canonical_name = ANY(:names)"), {"names": self.names}
            )
            conn.execute(text("DELETE FROM actors WHERE actor_name LIKE 'test\\_%'"))


def add_postings(
    engine: Engine,
    count: int,
    *,
    summary: str | None = None,
    skills: str | None = None,
    score: float | None = None,
) -> list[int]:
    """Insert `count` distinct postings (the stage columns given apply to all) and return their ids."""
    with engine.begin() as conn:
        ids = conn.execute(
            text(
                "INSERT INTO postings (job_title, job_description, summary, skills, score) "
                "SELECT 'Job ' || i, 'Description of job ' || i || ' ' || gen_random_uuid(), :summary, CAST(:skills AS jsonb), :score "
                "FROM generate_series(1, :count) AS i RETURNING posting_id"
            ),
            {"count": count, "summary": summary, "skills": skills, "score": score},
        ).scalars()
        return sorted(ids)


def complete_each(engine: Engine, worker: str, chunk: Chunk, outcome: Outcome) -> list[Completion]:
    """Complete every claim of `chunk` with the same outcome."""
    return database.complete_chunk(engine, worker, chunk, [(claim, outcome) for claim in chunk.claims])
