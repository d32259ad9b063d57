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
    ("ollama", {"model": "gemma3:4b"}),
    ("ollama", {"model": "gemma3:4b", "url": "http://127.0.0.1:11434", "api": "chat", "system": "be brief",
                "options": {"temperature": 0}, "format": "json", "keep_alive": "5m", "reask": 2}),
    ("ollama", {"model": "m", "url": "https://gpu.example/ollama/", "api": "generate", "keep_alive": -1,
                "format": {"type": "object", "required": ["score"]}, "reask": 0}),
    ("ollama", {"model": "m", "reask": 5.0}),  # a whole number, as JSON may write it
    ("ollama", {"model": "m", "format": {"type": 12}}),  # the shape is right; the schema is checked when built
    ("ollama", {}),
    ("ollama", {"model": ""}),
    ("ollama", {"model": "  "}),
    ("ollama", {"model": 3}),
    ("ollama", {"model": "m", "url": "localhost:11434"}),
    ("ollama", {"model": "m", "url": "ftp://host/x"}),
    ("ollama", {"model": "m", "url": "http://a b"}),
    ("ollama", {"model": "m", "url": 11434}),
    ("ollama", {"model": "m", "url": None}),
    ("ollama", {"model": "m", "api": "stream"}),
    ("ollama", {"model": "m", "api": 1}),
    ("ollama", {"model": "m", "system": 5}),
    ("ollama", {"model": "m", "options": ["temperature"]}),
    ("ollama", {"model": "m", "options": None}),
    ("ollama", {"model": "m", "format": "xml"}),
    ("ollama", {"model": "m", "format": True}),
    ("ollama", {"model": "m", "format": ["json"]}),
    ("ollama", {"model": "m", "keep_alive": True}),
    ("ollama", {"model": "m", "keep_alive": {"minutes": 5}}),
    ("ollama", {"model": "m", "reask": 6}),
    ("ollama", {"model": "m", "reask": -1}),
    ("ollama", {"model": "m", "reask": 1.5}),
    ("ollama", {"model": "m", "reask": "2"}),
    ("ollama", {"model": "m", "reask": True}),
    ("ollama", {"model": "", "url": "x", "api": "stream", "system": [], "options": 1, "format": "xml",
                "keep_alive": None, "reask": 9}),
    ("openai", {"model": "m", "base_url": "http://127.0.0.1:8000/v1"}),
    ("openai", {"model": "Qwen/Qwen2.5-7B-Instruct", "base_url": "https://api.example/v1", "system": "be brief",
                "params": {"temperature": 0.2, "max_tokens": 64, "seed": 7}, "reask": 1,
                "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "response_format": {"type": "json_object"}, "params": {}}),
    # the shape is right; an unset variable is the builder's own refusal (the database cannot see the environment)
    ("openai", {"model": "m", "base_url": "http://h/v1", "api_key_env": "TURING_TEST_UNSET_API_KEY"}),
    ("openai", {"model": "m", "base_url": "http://h/v1",
                "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 12}}}}),
    ("openai", {}),
    ("openai", {"model": "", "base_url": "http://h/v1"}),
    ("openai", {"model": ["m"], "base_url": "http://h/v1"}),
    ("openai", {"model": "m"}),
    ("openai", {"model": "m", "url": "http://127.0.0.1:8000/v1"}),  # the key is base_url
    ("openai", {"model": "m", "base_url": "127.0.0.1:8000/v1"}),
    ("openai", {"model": "m", "base_url": 8000}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "system": {"role": "system"}}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "params": [["temperature", 0]]}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "params": {"stream": True}}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "params": {"model": "other", "temperature": 0}}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "params": {"response_format": {"type": "text"}}}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "response_format": "json"}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "api_key_env": "sk-live-0123456789abcdef"}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "api_key_env": "1KEY"}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "api_key_env": 5}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "reask": 10}),
    ("openai", {"model": " ", "base_url": "ftp://h", "system": 1, "params": "hot", "response_format": [],
                "api_key_env": "my key", "reask": 0.5}),
    # retry, breaker and rate_limit: the same rules for every type, after the type's own
    ("python", {"callable": "sample_actors:echo", "retry": {"max_attempts": 5, "base_seconds": 0.5, "cap_seconds": 10}}),
    ("python", {"callable": "sample_actors:echo", "retry": {"max_attempts": 0}}),
    ("python", {"callable": "sample_actors:echo", "retry": {"max_attempts": 2.5}}),
    ("python", {"callable": "sample_actors:echo", "retry": {"max_attempt": 2}}),  # misspelt: refused, not ignored
    ("python", {"callable": "sample_actors:echo", "retry": 3}),
    ("python", {"callable": "sample_actors:echo", "retry": {"base_seconds": -1}}),
    ("python", {"callable": "sample_actors:echo", "retry": {"cap_seconds": True}}),
    ("shell", {"command": ["cat"], "breaker": {"failure_threshold": 3, "window_seconds": 30, "reset_seconds": 5,
                                               "success_threshold": 1, "half_open_probes": 2, "on_open": "wait",
                                               "count_rate_limits": True}}),
    ("shell", {"command": ["cat"], "breaker": {"on_open": "retry"}}),
    ("shell", {"command": ["cat"], "breaker": {"reset_seconds": 0}}),
    ("shell", {"command": ["cat"], "breaker": {"count_rate_limits": "yes"}}),
    ("shell", {"command": [], "breaker": {"half_open_probes": 0}}),  # the type's rule, then the policy's
    ("openai", {"model": "m", "base_url": "http://h/v1", "rate_limit": {"requests_per_minute": 60, "tokens_per_minute": 1e5}}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "rate_limit": {"requests_per_minute": 0}}),
    ("openai", {"model": "m", "base_url": "http://h/v1", "rate_limit": {"rpm": 60}}),
    ("ollama", {"model": "m", "rate_limit": [], "retry": {"max_attempts": 11}}),
    # several servers: a list of URLs or {"url", "max_concurrency"}, distinct once a trailing / is cut
    ("ollama", {"model": "m", "url": ["http://a:11434", {"url": "http://b:11434/", "max_concurrency": 8}]}),
    ("ollama", {"model": "m", "url": []}),
    ("ollama", {"model": "m", "url": ["http://a:11434", "http://a:11434/"]}),
    ("ollama", {"model": "m", "url": ["http://a:11434", "localhost:11434"]}),
    ("ollama", {"model": "m", "url": ["http:///"]}),
    ("ollama", {"model": "m", "url": [{"url": "http://a", "max_concurrency": 0}]}),
    ("ollama", {"model": "m", "url": [{"url": "http://a", "max_concurrency": 2.5}]}),
    ("ollama", {"model": "m", "url": [{"url": "http://a", "max_concurrency": True}]}),
    ("ollama", {"model": "m", "url": [{"url": "http://a", "max_concurency": 4}]}),  # misspelt: refused
    ("ollama", {"model": "m", "url": [{"max_concurrency": 4}]}),
    ("ollama", {"model": "m", "url": [5]}),
    ("openai", {"model": "m", "base_url": ["http://a/v1", "http://b/v1"]}),
    ("openai", {"model": "m", "base_url": [{"url": "http://a/v1", "max_concurrency": 100000}, "http://b/v1"]}),
    ("openai", {"model": "m", "base_url": []}),
    ("openai", {"model": "m", "base_url": ["ftp://a/v1"]}),
    # the response cache, for every type
    ("ollama", {"model": "m", "cache": True, "cache_ttl_seconds": 3600}),
    ("python", {"callable": "sample_actors:echo", "cache": True}),  # its answer depends on more than its prompt
    ("openai", {"model": "m", "base_url": "http://h/v1", "cache": False}),
    ("python", {"callable": "sample_actors:echo", "cache": "yes"}),
    ("shell", {"command": ["cat"], "cache": True, "cache_ttl_seconds": 0}),
    ("shell", {"command": ["cat"], "cache_ttl_seconds": "1h"}),
    ("ollama", {"model": "m", "cache": 1, "cache_ttl_seconds": True}),
]  # fmt: skip


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


def test_a_shell_command_is_refused_a_variable_that_holds_an_actors_api_key(conn: Connection) -> None:
    build_workflow(conn, 7801, [Step("t_configured", entry=True)], [("t_configured", "*", None)])
    conn.execute(text(
        "INSERT INTO actors (actor_name, actor_type, config) VALUES ('test_keyed', 'openai', "
        "'{\"model\": \"m\", \"base_url\": \"http://h/v1\", \"api_key_env\": \"LLM_CREDENTIAL\"}')"
    ))  # fmt: skip
    conn.execute(text(
        "UPDATE actors SET actor_type = 'shell', config = '{\"command\": [\"cat\"], \"env\": [\"HF_HOME\", \"LLM_CREDENTIAL\"]}' "
        "WHERE actor_name = 'test_python'"
    ))  # fmt: skip
    rows = conn.execute(
        text("SELECT check_name, message FROM workflow_check_actors(7801) WHERE severity = 'error'")
    ).all()
    assert [tuple(row) for row in rows] == [
        ("actor_secret_env", "actor test_python (shell) of conversation t_configured: config.env must not pass "
         "LLM_CREDENTIAL: it holds the API key of actor test_keyed (its config.api_key_env)")
    ]  # fmt: skip
