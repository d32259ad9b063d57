"""The ollama and openai actors against a real loopback server: one attempt, each outcome class, no key leaks."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bench.loopback_llm import Fault, LoopbackLLM, default_answer
from turing_db.actors import ERROR, FAILED, TIMEOUT, ActorSpec, Task, UnavailableActor, build_actor
from turing_db.actors.base import FATAL, RATE_LIMITED, RETRYABLE
from turing_db.actors.http import REASK_PROMPT, HttpActor, parse_retry_after
from turing_db.actors.ollama import OllamaActor
from turing_db.actors.openai import OpenAIActor

TASK = Task(posting_id=1, prompt="rate this posting")
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["answer", "score"],
}
STRICT_SCHEMA = {"type": "object", "required": ["verdict"]}
CANARY = "canary-llm-key-4f1b9e"

Make = Callable[..., HttpActor]


@pytest.fixture
def llm() -> Iterator[LoopbackLLM]:
    with LoopbackLLM(latency=0.01) as server:
        yield server


@pytest.fixture
def make(llm: LoopbackLLM) -> Iterator[Make]:
    """Build an actor of a type against `llm`; config keys override the defaults (model m, the URL)."""
    built: list[HttpActor] = []

    def make(actor_type: str, timeout: float = 2.0, **config: object) -> HttpActor:
        where = {"url": llm.url} if actor_type == "ollama" else {"base_url": llm.openai_base_url}
        actor = build_actor(ActorSpec("a", actor_type, {"model": "m", **where, **config}, timeout))
        assert isinstance(actor, HttpActor), getattr(actor, "reason", actor)
        built.append(actor)
        return actor

    yield make
    for actor in built:
        actor.close()


def wait_for(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.01)


# ---- success ---------------------------------------------------------------------------------------------


def test_ollama_generate_returns_the_answer_tokens_and_load_time(llm: LoopbackLLM, make: Make) -> None:
    llm.load_delay = 0.05
    actor = make("ollama", system="be brief", options={"temperature": 0, "num_predict": 64}, keep_alive="5m")
    assert isinstance(actor, OllamaActor)
    outcome = actor.execute(TASK)
    assert outcome.ok and outcome.output == default_answer(TASK.prompt)
    assert (outcome.prompt_tokens, outcome.completion_tokens) == (5, 3)  # 3 prompt words + 2 system words
    assert outcome.load_ms is not None and outcome.load_ms >= 50
    assert outcome.http_status == 200 and outcome.failure_class is None
    assert llm.paths == {"POST /api/generate": 1}
    assert llm.bodies == [
        {"model": "m", "prompt": TASK.prompt, "system": "be brief", "stream": False,
         "options": {"temperature": 0, "num_predict": 64}, "keep_alive": "5m"}
    ]  # fmt: skip
    second = actor.execute(TASK)
    assert second.load_ms == 0  # loaded now


def test_ollama_chat_sends_messages(llm: LoopbackLLM, make: Make) -> None:
    outcome = make("ollama", api="chat", system="be brief").execute(TASK)
    assert outcome.ok and outcome.output == default_answer(TASK.prompt)
    assert llm.paths == {"POST /api/chat": 1}
    body = llm.bodies[0]
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": TASK.prompt},
    ]
    assert body["stream"] is False and "prompt" not in body and "system" not in body


def test_openai_sends_messages_and_params_and_reads_usage(llm: LoopbackLLM, make: Make) -> None:
    params = {"temperature": 0.2, "max_tokens": 50, "seed": 7}
    actor = make("openai", system="be brief", params=params)
    assert isinstance(actor, OpenAIActor)
    outcome = actor.execute(TASK)
    assert outcome.ok and outcome.output == default_answer(TASK.prompt)
    assert (outcome.prompt_tokens, outcome.completion_tokens, outcome.http_status) == (5, 3, 200)
    assert llm.paths == {"POST /v1/chat/completions": 1}
    assert llm.bodies == [
        {"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": TASK.prompt}],
         **params}
    ]  # fmt: skip
    assert llm.authorizations == [None]  # no api_key_env: no header


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
def test_one_client_reuses_its_connection(llm: LoopbackLLM, make: Make, actor_type: str) -> None:
    actor = make(actor_type)
    assert all(actor.execute(TASK).ok for _ in range(3))
    assert llm.connections_opened == 1


# ---- each outcome class --------------------------------------------------------------------------------


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
def test_a_hung_server_ends_at_the_timeout_and_leaves_no_socket(
    llm: LoopbackLLM, make: Make, actor_type: str
) -> None:
    llm.script("hang")
    actor = make(actor_type, timeout=0.5)
    started = time.monotonic()
    outcome = actor.execute(TASK)
    assert time.monotonic() - started < 1.5
    assert (outcome.sentinel, outcome.error_kind, outcome.failure_class) == (TIMEOUT, "timeout", RETRYABLE)
    assert outcome.error_message == "a took longer than 0.5 s"
    wait_for(lambda: llm.in_flight == 0 and llm.open_connections == 0, seconds=1.0)  # the client hung up
    assert actor.execute(TASK).ok  # and the actor works on


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
def test_a_trickle_past_the_deadline_is_a_timeout(llm: LoopbackLLM, make: Make, actor_type: str) -> None:
    llm.script(
        Fault.trickle(interval=0.05, chunk=4)
    )  # ~2 s for the whole body; each chunk beats a read timeout
    started = time.monotonic()
    outcome = make(actor_type, timeout=0.5).execute(TASK)
    assert time.monotonic() - started < 1.0  # the whole body would take ~2 s
    assert (outcome.sentinel, outcome.error_kind, outcome.failure_class) == (TIMEOUT, "timeout", RETRYABLE)
    assert outcome.http_status == 200
    wait_for(lambda: llm.in_flight == 0, seconds=1.0)


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
def test_a_stopped_server_refuses_the_connection(llm: LoopbackLLM, make: Make, actor_type: str) -> None:
    actor = make(actor_type)
    assert actor.execute(TASK).ok
    llm.stop()
    outcome = actor.execute(TASK)
    assert (outcome.sentinel, outcome.error_kind, outcome.failure_class) == (
        ERROR,
        "connection_error",
        RETRYABLE,
    )
    assert outcome.http_status is None and "refused" in (outcome.error_message or "").lower()
    llm.start()
    assert actor.execute(TASK).ok


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
def test_a_reset_is_a_connection_error(llm: LoopbackLLM, make: Make, actor_type: str) -> None:
    llm.script("reset")
    outcome = make(actor_type).execute(TASK)
    assert (outcome.sentinel, outcome.error_kind, outcome.failure_class) == (
        ERROR,
        "connection_error",
        RETRYABLE,
    )


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
def test_a_429_is_rate_limited_with_its_retry_after(llm: LoopbackLLM, make: Make, actor_type: str) -> None:
    in_30_s = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    llm.script(Fault.rate_limited(2), Fault.rate_limited(in_30_s), Fault.rate_limited(None))
    actor = make(actor_type)
    seconds, date, none = (actor.execute(TASK) for _ in range(3))
    for outcome in (seconds, date, none):
        assert (outcome.sentinel, outcome.error_kind, outcome.http_status) == (ERROR, "rate_limited", 429)
        assert outcome.failure_class == RATE_LIMITED
    assert seconds.retry_after == 2.0
    assert date.retry_after is not None and 27 <= date.retry_after <= 30
    assert none.retry_after is None
    assert "rate limit exceeded" in (seconds.error_message or "")


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retryable(llm: LoopbackLLM, make: Make, actor_type: str, status: int) -> None:
    llm.script(Fault.http(status, "the GPU fell over", retry_after=5), Fault.http(status))
    actor = make(actor_type)
    with_header, without = actor.execute(TASK), actor.execute(TASK)
    assert (with_header.sentinel, with_header.error_kind, with_header.failure_class) == (
        ERROR,
        f"http_{status}",
        RETRYABLE,
    )
    assert with_header.http_status == status and with_header.retry_after == 5.0
    assert "the GPU fell over" in (with_header.error_message or "")
    assert without.retry_after is None and without.failure_class == RETRYABLE


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (Fault.http(400), "http_400"),
        (Fault.http(401), "http_401"),
        (Fault.http(403), "http_403"),
        (Fault.model_not_found(), "model_not_found"),
        (Fault.context_exceeded(), "context_exceeded"),
        (
            Fault.http(400, "the input length exceeds the context window"),
            "context_exceeded",
        ),  # Ollama-style text
        (Fault.http(404, "no such page"), "http_404"),  # a 404 that is not about the model
        (Fault.http(422, retry_after=3), "http_422"),
    ],
)
def test_client_errors_are_fatal(
    llm: LoopbackLLM, make: Make, actor_type: str, fault: Fault, kind: str
) -> None:
    llm.script(fault)
    outcome = make(actor_type).execute(TASK)
    assert (outcome.sentinel, outcome.error_kind, outcome.failure_class) == (ERROR, kind, FATAL)
    assert outcome.http_status == fault.status and outcome.retry_after is None


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
def test_an_unknown_model_is_fatal_with_the_servers_message(make: Make, actor_type: str) -> None:
    with LoopbackLLM(models=["known"]) as llm:
        where = {"url": llm.url} if actor_type == "ollama" else {"base_url": llm.openai_base_url}
        outcome = make(actor_type, model="gemma9:404b", **where).execute(TASK)
    assert (outcome.sentinel, outcome.error_kind, outcome.failure_class) == (ERROR, "model_not_found", FATAL)
    assert outcome.http_status == 404 and "gemma9:404b" in (outcome.error_message or "")


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
@pytest.mark.parametrize("fault", ["truncated", "invalid_json", "missing_fields"])
def test_a_body_that_is_not_the_json_expected_is_a_bad_response(
    llm: LoopbackLLM, make: Make, actor_type: str, fault: str
) -> None:
    llm.script(fault)
    outcome = make(actor_type).execute(TASK)
    assert (outcome.sentinel, outcome.error_kind, outcome.failure_class) == (ERROR, "bad_response", RETRYABLE)
    assert outcome.http_status == 200


def test_error_messages_are_cut(llm: LoopbackLLM, make: Make) -> None:
    llm.script(Fault.http(500, "x" * 5000))
    outcome = make("ollama").execute(TASK)
    assert outcome.error_message is not None and len(outcome.error_message) == 500


# ---- structured output ------------------------------------------------------------------------------------


def test_an_answer_matching_the_schema_is_stored_as_sent(llm: LoopbackLLM, make: Make) -> None:
    ollama = make("ollama", format=SCHEMA).execute(TASK)
    rf = {"type": "json_schema", "json_schema": {"name": "rating", "schema": SCHEMA}}
    openai = make("openai", response_format=rf).execute(TASK)
    expected = json.dumps({"answer": default_answer(TASK.prompt), "score": 3})
    assert (ollama.ok, ollama.output) == (True, expected)
    assert (openai.ok, openai.output) == (True, expected)
    assert llm.bodies[0]["format"] == SCHEMA and llm.bodies[1]["response_format"] == rf


@pytest.mark.parametrize(
    ("actor_type", "config"),
    [
        ("ollama", {"format": STRICT_SCHEMA}),
        ("ollama", {"format": STRICT_SCHEMA, "api": "chat"}),
        (
            "openai",
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": STRICT_SCHEMA},
                }
            },
        ),
    ],
)
def test_an_answer_against_the_schema_is_invalid_output(make: Make, actor_type: str, config: dict) -> None:
    outcome = make(actor_type, **config).execute(TASK)
    assert (outcome.sentinel, outcome.error_kind, outcome.failure_class) == (FAILED, "invalid_output", FATAL)
    assert "'verdict' is a required property" in (outcome.error_message or "")
    assert outcome.prompt_tokens is not None and outcome.http_status == 200


@pytest.mark.parametrize(
    ("actor_type", "config"),
    [("ollama", {"format": "json"}), ("openai", {"response_format": {"type": "json_object"}})],
)
def test_json_mode_only_asks_that_the_answer_parses(make: Make, actor_type: str, config: dict) -> None:
    with LoopbackLLM(
        responder=lambda prompt, model, request: "[1, 2]" if "1" in prompt else "not json"
    ) as llm:
        where = {"url": llm.url} if actor_type == "ollama" else {"base_url": llm.openai_base_url}
        actor = make(actor_type, **where, **config)
        assert actor.execute(Task(1, "give 1")).output == "[1, 2]"
        refused = actor.execute(Task(1, "give none"))
    assert (refused.sentinel, refused.error_kind, refused.failure_class) == (FAILED, "invalid_output", FATAL)
    assert (refused.error_message or "").startswith("the answer is not JSON")


def good_on_attempt(n: int) -> Callable[[str, str, dict], str]:
    """A responder whose answers lack `verdict` until the n-th request."""
    calls: list[str] = []

    def respond(prompt: str, model: str, request: dict) -> str:
        calls.append(prompt)
        return json.dumps({"verdict": "ok"} if len(calls) >= n else {"answer": "no verdict here"})

    return respond


@pytest.mark.parametrize(
    ("actor_type", "api"), [("ollama", "generate"), ("ollama", "chat"), ("openai", None)]
)
def test_a_reask_tells_the_model_why_and_counts_every_attempt(
    make: Make, actor_type: str, api: str | None
) -> None:
    with LoopbackLLM(responder=good_on_attempt(3)) as llm:
        if actor_type == "ollama":
            config: dict = {"url": llm.url, "format": STRICT_SCHEMA, **({"api": api} if api else {})}
        else:
            rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": STRICT_SCHEMA}}
            config = {"base_url": llm.openai_base_url, "response_format": rf}
        outcome = make(actor_type, reask=2, system="judge", **config).execute(TASK)
        bodies = llm.bodies
    assert outcome.ok and json.loads(outcome.output) == {"verdict": "ok"}
    assert len(bodies) == 3
    bad = json.dumps({"answer": "no verdict here"})
    problem = "the answer does not match the schema: 'verdict' is a required property (at $)"
    if api == "generate":
        assert bodies[1]["prompt"].startswith(TASK.prompt) and bad in bodies[1]["prompt"]
        assert bodies[1]["prompt"].endswith(REASK_PROMPT.format(problem=problem))
        prompt_words = [len(f"judge {body['prompt']}".split()) for body in bodies]
    else:
        follow_up = {"role": "user", "content": REASK_PROMPT.format(problem=problem)}
        assert bodies[2]["messages"] == [
            {"role": "system", "content": "judge"},
            {"role": "user", "content": TASK.prompt},
            {"role": "assistant", "content": bad},
            follow_up,
            {"role": "assistant", "content": bad},
            follow_up,
        ]
        prompt_words = [sum(len(m["content"].split()) for m in body["messages"]) for body in bodies]
    assert outcome.prompt_tokens == sum(prompt_words)
    assert outcome.completion_tokens == 2 * len(bad.split()) + len(outcome.output.split())


@pytest.mark.parametrize("actor_type", ["ollama", "openai"])
def test_when_the_reasks_are_spent_the_output_is_invalid(make: Make, actor_type: str) -> None:
    with LoopbackLLM(responder=good_on_attempt(99)) as llm:
        if actor_type == "ollama":
            config: dict = {"url": llm.url, "format": STRICT_SCHEMA}
        else:
            rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": STRICT_SCHEMA}}
            config = {"base_url": llm.openai_base_url, "response_format": rf}
        outcome = make(actor_type, reask=1, **config).execute(TASK)
        assert llm.requests == 2
    assert (outcome.sentinel, outcome.error_kind, outcome.failure_class) == (FAILED, "invalid_output", FATAL)
    assert outcome.completion_tokens == 2 * len(json.dumps({"answer": "no verdict here"}).split())


def test_without_reask_a_refused_answer_is_asked_once(make: Make) -> None:
    with LoopbackLLM(responder=good_on_attempt(2)) as llm:
        outcome = make("ollama", url=llm.url, format=STRICT_SCHEMA).execute(TASK)
        assert llm.requests == 1
    assert outcome.error_kind == "invalid_output"


# ---- the API key ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variable", ["LLM_CREDENTIAL_X", "OPENAI_API_KEY"]
)  # a name redact() knows, and one it does not
def test_the_api_key_reaches_the_server_and_never_the_outcome(
    llm: LoopbackLLM, make: Make, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, CANARY)
    actor = make("openai", api_key_env=variable)
    success = actor.execute(TASK)
    assert success.ok and CANARY not in repr(success)
    assert llm.authorizations == [f"Bearer {CANARY}"]
    llm.script(
        Fault.http(401, f"Incorrect API key provided: {CANARY}"), Fault.http(500, f"key {CANARY} broke me")
    )
    for outcome in (actor.execute(TASK), actor.execute(TASK)):
        assert outcome.sentinel == ERROR and CANARY not in repr(outcome)
        assert "***" in (outcome.error_message or "")
    assert CANARY not in repr(actor.client.headers) and CANARY not in repr(vars(actor))


def test_a_missing_api_key_variable_makes_the_actor_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_CREDENTIAL_MISSING", raising=False)
    config = {"model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "LLM_CREDENTIAL_MISSING"}
    actor = build_actor(ActorSpec("judge", "openai", config))
    assert isinstance(actor, UnavailableActor)
    assert (
        actor.reason
        == "actor judge: environment variable LLM_CREDENTIAL_MISSING (config.api_key_env) is not set"
    )
    outcome = actor.execute(TASK)
    assert (outcome.sentinel, outcome.error_kind) == (ERROR, "actor_unavailable")


# ---- config, estimates, helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor_type", "config", "reason"),
    [
        ("ollama", {"model": ""}, 'config.model must name a model, e.g. {"model": "gemma3:4b"}'),
        (
            "ollama",
            {"model": "m", "url": "localhost:11434", "api": "stream", "format": "xml", "reask": 9},
            'config.url must be an http(s) URL; config.api must be "generate" or "chat"; '
            'config.format must be "json" or a JSON Schema object; config.reask must be a whole number from 0 to 5',
        ),
        (
            "ollama",
            {"model": "m", "format": {"type": 12}},
            "invalid JSON Schema in config.format: 12 is not valid",
        ),
        (
            "openai",
            {"model": "m"},
            'config.base_url must be an http(s) URL, e.g. {"base_url": "http://127.0.0.1:8000/v1"}',
        ),
        (
            "openai",
            {
                "model": "m",
                "base_url": "http://h/v1",
                "api_key_env": "sk-live-123",
                "params": {"stream": True},
            },
            "config.params must be an object of request fields (not model, messages, stream or response_format); "
            "config.api_key_env must name an environment variable (letters, digits and _), not hold the key",
        ),
    ],
)
def test_config_problems_make_the_actor_unavailable(actor_type: str, config: dict, reason: str) -> None:
    actor = build_actor(ActorSpec("a", actor_type, config))
    assert isinstance(actor, UnavailableActor)
    assert actor.reason.startswith(f"actor a: {reason}")


def test_estimate_tokens_charges_the_prompt_and_the_output_limit(make: Make) -> None:
    task = Task(1, "x" * 10)  # 10 characters: 3 tokens
    assert make("ollama").estimate_tokens(task) == 3 + 256
    assert make("ollama", options={"num_predict": 100}).estimate_tokens(task) == 103
    assert make("ollama", options={"num_predict": -1}).estimate_tokens(task) == 3 + 256  # unlimited
    assert make("openai", params={"max_tokens": 40}).estimate_tokens(task) == 43
    assert make("openai", params={"max_completion_tokens": 60}).estimate_tokens(task) == 63
    assert make("openai").estimate_tokens(Task(1, "")) == 256


def test_close_closes_the_client(make: Make) -> None:
    actor = make("ollama")
    actor.close()
    assert actor.client.is_closed
    assert actor.execute(TASK).sentinel == ERROR  # and still does not raise


def test_the_client_is_sized_by_max_concurrency(llm: LoopbackLLM) -> None:
    spec = ActorSpec("a", "ollama", {"model": "m", "url": llm.url}, 2.0, max_concurrency=3)
    actor = build_actor(spec)
    assert isinstance(actor, HttpActor)
    pool = actor.client._transport._pool  # type: ignore[attr-defined]
    assert pool._max_connections == 3 and pool._max_keepalive_connections == 3
    actor.close()


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("-4", now) == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0  # in the past
    for unusable in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(unusable, now) is None
