"""Building small workflows for tests: a compact description in, rows in the tables out."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection


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
              ('test_python', 'python', '{"callable": "tests.actors:echo"}'),
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
