"""validate_workflow() and the actor builders apply the same config rules, tested on the same cases."""

import json

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from workflows import Step, build_workflow

from turing_db.actors import ActorSpec, UnavailableActor, build_actor

CASES = [
    ("python", {"callable": "sample_actors:echo"}),
    ("python", {"callable": "package.module:function"}),  # the shape is right; importing is a later step
    ("python", {"callable": "no_colon"}),
    ("python", {"callable": "two:colons:here"}),
    ("python", {"callable": "1module:function"}),
    ("python", {"callable": "module:func tion"}),
    ("python", {"callable": ""}),
    ("python", {"callable": 42}),
    ("python", {}),
    ("shell", {"command": ["cat"]}),
    ("shell", {"command": ["python3", "script.py", "--flag"]}),
    ("shell", {"command": []}),
    ("shell", {"command": "cat"}),
    ("shell", {"command": ["cat", ""]}),
    ("shell", {"command": ["cat", 1]}),
    ("shell", {}),
    ("shell", {"command": ["cat"], "env": ["OLLAMA_HOST", "HF_HOME"]}),
    ("shell", {"command": ["cat"], "env": []}),
    ("shell", {"command": ["cat"], "env": "OLLAMA_HOST"}),
    ("shell", {"command": ["cat"], "env": None}),
    ("shell", {"command": ["cat"], "env": ["1BAD"]}),
    ("shell", {"command": ["cat"], "env": ["OPENAI_API_KEY", "PATH", "db_password", "PGPASSWORD"]}),
    ("shell", {"command": [], "env": ["GH_TOKEN"]}),
]


def sql_verdict(conn: Connection, actor_type: str, config: dict) -> str | None:
    """The config problem workflow_check_actors() reports for a step with this actor, or None."""
    conn.execute(
        text("UPDATE actors SET actor_type = :type, config = CAST(:config AS jsonb) WHERE actor_name = 'test_python'"),
        {"type": actor_type, "config": json.dumps(config)},
    )  # fmt: skip
    rows = conn.execute(
        text("SELECT message FROM workflow_check_actors(7801) WHERE check_name = 'actor_config'")
    ).scalars()
    problems = [message.split(": ", 1)[1] for message in rows]
    return problems[0] if problems else None


def python_verdict(actor_type: str, config: dict) -> str | None:
    """The config rule the builder refuses this config by, or None (it may still fail later, e.g. an
    import)."""
    actor = build_actor(ActorSpec("test_python", actor_type, config))
    if isinstance(actor, UnavailableActor) and actor.reason.startswith("actor test_python: config."):
        return actor.reason.split(": ", 1)[1]
    return None


@pytest.mark.parametrize(("actor_type", "config"), CASES, ids=[json.dumps(config) for _, config in CASES])
def test_sql_and_python_agree_on_the_actor_config(conn: Connection, actor_type: str, config: dict) -> None:
    build_workflow(conn, 7801, [Step("t_configured", entry=True)], [("t_configured", "*", None)])
    assert sql_verdict(conn, actor_type, config) == python_verdict(actor_type, config)


def test_the_cases_cover_both_verdicts() -> None:
    verdicts = {python_verdict(actor_type, config) is None for actor_type, config in CASES}
    assert verdicts == {True, False}
