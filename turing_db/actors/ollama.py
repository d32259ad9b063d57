"""The `ollama` actor: one call to an Ollama server's /api/generate (default) or /api/chat, not streamed.

config: `model` (required), `url` (default http://127.0.0.1:11434; or a list of servers, each a URL or
{"url": URL, "max_concurrency": N}: the database spreads the calls over them), `api` ("generate" or "chat"),
`system`, `options` (passed through: temperature, num_ctx, num_predict...), `format` ("json" or a JSON
Schema the answer must match), `keep_alive` (passed through), `reask` (how many times a refused
structured answer is asked again, 0 to 5, default 0). Outcome classes: turing_db.actors.http.
"""

from __future__ import annotations

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
    reasked_prompt,
    server_urls,
    text_of,
)

DEFAULT_URL = "http://127.0.0.1:11434"
APIS = ("generate", "chat")
# as workflow_check_actors() says, in this order
MODEL_RULE = 'config.model must name a model, e.g. {"model": "gemma3:4b"}'
URL_RULE = "config.url must be an http(s) URL"
API_RULE = 'config.api must be "generate" or "chat"'
SYSTEM_RULE = "config.system must be a string"
OPTIONS_RULE = "config.options must be an object"
FORMAT_RULE = 'config.format must be "json" or a JSON Schema object'
KEEP_ALIVE_RULE = 'config.keep_alive must be a string or a number of seconds, e.g. "5m"'


def config_problems(config: dict[str, Any]) -> list[str]:
    """The rules `config` breaks, in the order workflow_check_actors() reports them."""
    checks = [
        (not names_model(config.get("model")), MODEL_RULE),
        (isinstance(config.get("url"), list) and server_urls(config["url"]) is None, endpoints_rule("url")),
        (
            "url" in config and not isinstance(config["url"], list) and not is_http_url(config["url"]),
            URL_RULE,
        ),
        ("api" in config and config["api"] not in APIS, API_RULE),
        ("system" in config and not isinstance(config["system"], str), SYSTEM_RULE),
        ("options" in config and not isinstance(config["options"], dict), OPTIONS_RULE),
        (
            "format" in config and config["format"] != "json" and not isinstance(config["format"], dict),
            FORMAT_RULE,
        ),
        ("keep_alive" in config and not is_keep_alive(config["keep_alive"]), KEEP_ALIVE_RULE),
    ]
    problems = [rule for broken, rule in checks if broken]
    reask = check_reask(config)
    return problems + ([reask] if reask else [])


def is_keep_alive(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


class OllamaActor(HttpActor):
    """Asks an Ollama server; tokens are its prompt_eval_count and eval_count, load_ms its load_duration."""

    def __init__(self, spec: ActorSpec):
        config = spec.config
        problems = config_problems(config)
        if problems:
            raise ActorConfigError(f"actor {spec.actor_name}: {'; '.join(problems)}")
        self.model: str = config["model"]
        self.api: str = config.get("api", "generate")
        self.system: str | None = config.get("system")
        self.options: dict[str, Any] | None = config.get("options")
        self.format: str | dict[str, Any] | None = config.get("format")
        self.keep_alive: Any = config.get("keep_alive")
        try:
            check = None
            if isinstance(self.format, dict):
                check = OutputCheck.for_schema(self.format, "config.format")
            elif self.format == "json":
                check = OutputCheck()
        except ActorConfigError as exc:
            raise ActorConfigError(f"actor {spec.actor_name}: {exc}") from exc
        url = config.get("url", DEFAULT_URL)
        servers = server_urls(url) or [str(url).rstrip("/")]
        super().__init__(spec, servers, f"/api/{self.api}", check=check, reask=int(config.get("reask", 0)))

    def request(self, prompt: str, refused: Sequence[Refusal]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model}
        if self.api == "chat":
            body["messages"] = chat_messages(self.system, prompt, refused)
        else:
            body["prompt"] = reasked_prompt(prompt, refused)
            if self.system is not None:
                body["system"] = self.system
        body["stream"] = False
        optional = {"options": self.options, "format": self.format, "keep_alive": self.keep_alive}
        body.update({key: value for key, value in optional.items() if value is not None})
        return body

    def answer(self, payload: Any) -> Answer:
        text = payload["message"]["content"] if self.api == "chat" else payload["response"]
        load = count(payload.get("load_duration"))
        return Answer(
            text_of(text),
            prompt_tokens=count(payload.get("prompt_eval_count")),
            completion_tokens=count(payload.get("eval_count")),
            load_ms=load / 1e6 if load is not None else None,
        )

    def output_limit(self) -> int | None:
        return output_limit(self.options, "num_predict")
