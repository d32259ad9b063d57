"""The `openai` actor: one call to an OpenAI-compatible /chat/completions (vLLM, llama.cpp, OpenAI...).

config: `base_url` (required, e.g. http://127.0.0.1:8000/v1; or a list of servers, each a URL or
{"url": URL, "max_concurrency": N}: the database spreads the calls over them), `model` (required), `api_key_env` (the
name of the environment variable holding the API key: the key itself is never in the config, a message
or a log), `system`, `params` (request fields passed through: temperature, max_tokens, seed...),
`response_format` (passed through; with a JSON schema or json_object the answer is checked), `reask`
(how many times a refused structured answer is asked again, 0 to 5, default 0). Outcome classes:
turing_db.actors.http.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from turing_db.actors.base import ActorConfigError, ActorSpec
from turing_db.actors.http import (
    Answer,
    HttpActor,
    OutputCheck,
    Refusal,
    chat_messages,
    check_reask,
    count,
    endpoints_rule,
    is_http_url,
    names_model,
    output_limit,
    server_urls,
    text_of,
)
from turing_db.redaction import register_secret
from turing_db.settings import read_environment

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_PARAMS = ("model", "messages", "stream", "response_format")  # the actor sets them
# as workflow_check_actors() says, in this order
MODEL_RULE = "config.model must name a model"
BASE_URL_RULE = 'config.base_url must be an http(s) URL, e.g. {"base_url": "http://127.0.0.1:8000/v1"}'
SYSTEM_RULE = "config.system must be a string"
PARAMS_RULE = (
    "config.params must be an object of request fields (not model, messages, stream or response_format)"
)
RESPONSE_FORMAT_RULE = 'config.response_format must be an object, e.g. {"type": "json_object"}'
API_KEY_ENV_RULE = (
    "config.api_key_env must name an environment variable (letters, digits and _), not hold the key"
)


def config_problems(config: dict[str, Any]) -> list[str]:
    """The rules `config` breaks, in the order workflow_check_actors() reports them."""
    params = config.get("params")
    checks = [
        (not names_model(config.get("model")), MODEL_RULE),
        (
            isinstance(config.get("base_url"), list) and server_urls(config["base_url"]) is None,
            endpoints_rule("base_url"),
        ),
        (
            not isinstance(config.get("base_url"), list) and not is_http_url(config.get("base_url")),
            BASE_URL_RULE,
        ),
        ("system" in config and not isinstance(config["system"], str), SYSTEM_RULE),
        (
            "params" in config
            and (not isinstance(params, dict) or any(key in params for key in RESERVED_PARAMS)),
            PARAMS_RULE,
        ),
        (
            "response_format" in config and not isinstance(config["response_format"], dict),
            RESPONSE_FORMAT_RULE,
        ),
        ("api_key_env" in config and not is_env_name(config["api_key_env"]), API_KEY_ENV_RULE),
    ]
    problems = [rule for broken, rule in checks if broken]
    reask = check_reask(config)
    return problems + ([reask] if reask else [])


def is_env_name(value: Any) -> bool:
    return isinstance(value, str) and ENV_NAME.fullmatch(value) is not None


def output_check(response_format: dict[str, Any] | None) -> OutputCheck | None:
    """json_schema: the answer must match its schema; json_object: it must parse; anything else: no check."""
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return OutputCheck()
    if kind != "json_schema":
        return None
    spec = (response_format or {}).get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    return (
        OutputCheck.for_schema(schema, "config.response_format")
        if isinstance(schema, dict)
        else OutputCheck()
    )


class OpenAIActor(HttpActor):
    """Asks a /chat/completions endpoint; the answer is choices[0].message.content, tokens its usage."""

    def __init__(self, spec: ActorSpec):
        config = spec.config
        problems = config_problems(config)
        if problems:
            raise ActorConfigError(f"actor {spec.actor_name}: {'; '.join(problems)}")
        key = None
        if "api_key_env" in config:
            key = read_environment().get(config["api_key_env"]) or None
            if key is None:
                raise ActorConfigError(
                    f"actor {spec.actor_name}: environment variable {config['api_key_env']} "
                    "(config.api_key_env) is not set"
                )
            register_secret(key)  # masked in every message and log line, whatever the variable's name
        self.model: str = config["model"]
        self.system: str | None = config.get("system")
        self.params: dict[str, Any] = dict(config.get("params") or {})
        self.response_format: dict[str, Any] | None = config.get("response_format")
        try:
            check = output_check(self.response_format)
        except ActorConfigError as exc:
            raise ActorConfigError(f"actor {spec.actor_name}: {exc}") from exc
        super().__init__(
            spec,
            server_urls(config["base_url"]) or [config["base_url"].rstrip("/")],
            "/chat/completions",
            check=check,
            reask=int(config.get("reask", 0)),
            headers={"Authorization": f"Bearer {key}"} if key else None,
            secrets=(key,) if key else (),
        )

    def request(self, prompt: str, refused: Sequence[Refusal]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": chat_messages(self.system, prompt, refused)}
        body.update(self.params)
        if self.response_format is not None:
            body["response_format"] = self.response_format
        return body

    def answer(self, payload: Any) -> Answer:
        message = payload["choices"][0]["message"]
        usage = payload.get("usage") or {}
        if message.get("content") is None and message.get("refusal"):
            raise ValueError(f"the model refused: {message['refusal']}")
        return Answer(
            text_of(message["content"]),
            prompt_tokens=count(usage.get("prompt_tokens")),
            completion_tokens=count(usage.get("completion_tokens")),
        )

    def output_limit(self) -> int | None:
        return output_limit(self.params, "max_tokens", "max_completion_tokens")
