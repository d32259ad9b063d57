"""What the HTTP actors (`ollama`, `openai`) share: one call per execute(), its outcome classes, JSON checks.

Each actor keeps one `httpx.Client`, so its connections are reused across tasks and threads.
`execute()` makes one HTTP attempt (plus the re-asks of `config.reask` when a structured answer is
refused) within a total deadline of the actor's timeout: the body is streamed, a server that trickles
it ends at the deadline, and every response is closed on every path, so a hung server leaves no socket.
Retries, backoff, the circuit breaker and rate limits belong to the caller (turing_db.resilience), which
reads `Outcome.failure_class` and `Outcome.retry_after`:

- a timeout (connect, read, pool, the total deadline): [TIMEOUT], "timeout", retryable;
- no answer (refused, reset, closed before the response): [ERROR], "connection_error", retryable;
- HTTP 429: [ERROR], "rate_limited", rate-limited, with the Retry-After seconds;
- HTTP 408, 500, 502, 503, 504: [ERROR], "http_<status>", retryable;
- any other status: [ERROR], fatal: "model_not_found" (a 404 about the model), "context_exceeded" (the
  prompt is over the context), else "http_<status>";
- a body that is not the JSON expected (truncated, invalid, missing fields): [ERROR], "bad_response",
  retryable;
- a structured answer that does not parse or match its schema: [FAILED], "invalid_output", fatal.

Error messages are redacted (turing_db.redaction, and the actor's own API key) and cut to 500 characters.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.validators import validator_for

from turing_db.actors.base import (
    ERROR,
    FAILED,
    FATAL,
    RATE_LIMITED,
    RETRYABLE,
    TIMEOUT,
    ActorConfigError,
    ActorSpec,
    Outcome,
    Task,
    elapsed_ms,
)
from turing_db.redaction import MASK, redact
from turing_db.settings import Secret

REASK_RULE = "config.reask must be a whole number from 0 to 5"  # as workflow_check_actors() says
MAX_REASK = 5
HTTP_URL = re.compile(r"https?://[^\s]+")  # workflow_check_actors(): '^https?://[^\s]+$'
DEFAULT_OUTPUT_TOKENS = 256  # estimate_tokens() when the config sets no output limit
RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504})
CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
CONTEXT_PHRASES = ("context length", "context window", "context size")
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_MESSAGE = 500
N = TypeVar("N", int, float)
REASK_PROMPT = "Your previous answer was refused: {problem}. Answer again with JSON only, fixing this."


@dataclass(frozen=True)
class Answer:
    """What a successful call gave: the answer text and the server's counts."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    load_ms: float | None = None
    status: int = 200


@dataclass(frozen=True)
class Failure:
    """A call that gave no usable answer, before it becomes an Outcome."""

    sentinel: str
    kind: str
    message: str
    failed_as: str
    http_status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Refusal:
    """A structured answer that was refused, and why: what a re-ask tells the model."""

    answer: str
    problem: str


@dataclass(frozen=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes


@dataclass(frozen=True)
class OutputCheck:
    """A structured answer must parse as JSON and, with a schema, match it (JSON Schema 2020-12 unless
    the schema's `$schema` says otherwise)."""

    validator: Any = None  # a jsonschema Validator, or None: JSON only

    @classmethod
    def for_schema(cls, schema: Mapping[str, Any], where: str) -> OutputCheck:
        """Raises ActorConfigError when `schema` is not a valid JSON Schema (`where` names the key)."""
        validator_class = validator_for(schema, default=Draft202012Validator)
        try:
            validator_class.check_schema(schema)
        except SchemaError as exc:
            raise ActorConfigError(f"invalid JSON Schema in {where}: {exc.message}") from exc
        return cls(validator_class(schema))

    def problem(self, text: str) -> str | None:
        try:
            document = json.loads(text)
        except ValueError as exc:
            return f"the answer is not JSON: {exc}"
        if self.validator is None:
            return None
        error = best_match(self.validator.iter_errors(document))
        if error is None:
            return None
        return f"the answer does not match the schema: {error.message} (at {error.json_path})"


class HttpActor:
    """One HTTP attempt per task against an LLM server; subclasses say what to send and how to read it.

    `servers` are the base URLs the config lists (one, or several: actor_endpoints() in SQL); a task
    whose `endpoint` the database chose (actor_admit()) is sent to that server, else to the first.
    `path` is what follows a base URL (/api/generate, /chat/completions)."""

    def __init__(
        self,
        spec: ActorSpec,
        servers: Sequence[str],
        path: str,
        *,
        check: OutputCheck | None,
        reask: int,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
    ):
        self.name = spec.actor_name
        self.path = path
        self.url = servers[0] + path
        self.timeout = max(float(spec.timeout_seconds), 0.001)
        self.check = check
        self.reask = reask
        self._secrets = tuple(Secret(secret) for secret in secrets if secret)  # a repr never shows them
        size = max(spec.max_concurrency or servers_capacity(spec) or 16, 1)  # as many as the calls in flight
        self.client = httpx.Client(
            headers=dict(headers or {}),
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            timeout=client_timeout(self.timeout),
        )

    # ---- what a subclass says --------------------------------------------------------------------------

    def request(self, prompt: str, refused: Sequence[Refusal]) -> dict[str, Any]:
        """The request body for `prompt`, after the refused answers so far (re-asks)."""
        raise NotImplementedError

    def answer(self, payload: Any) -> Answer:
        """The answer in a 2xx body; raises LookupError, TypeError, ValueError or AttributeError when it is not there."""
        raise NotImplementedError

    def output_limit(self) -> int | None:
        """The completion token limit the config sets, if any."""
        raise NotImplementedError

    # ---- the call --------------------------------------------------------------------------------------

    def estimate_tokens(self, task: Task) -> int:
        """What the rate limiter charges before the call: the prompt's characters / 4 plus the output limit."""
        return math.ceil(len(task.prompt) / 4) + (self.output_limit() or DEFAULT_OUTPUT_TOKENS)

    def close(self) -> None:
        self.client.close()

    def execute(self, task: Task) -> Outcome:
        started = time.perf_counter()
        deadline = time.monotonic() + self.timeout
        spent = Answer("", None, None, None)
        refused: list[Refusal] = []
        url = self.url if not task.endpoint else task.endpoint + self.path
        try:
            while True:
                result = self.attempt(self.request(task.prompt, refused), deadline, url)
                if isinstance(result, Failure):
                    return self.outcome(result, spent, started)
                spent = add_counts(spent, result)
                problem = self.check.problem(result.text) if self.check is not None else None
                if problem is None:
                    return Outcome(
                        output=result.text,
                        latency_ms=elapsed_ms(started),
                        prompt_tokens=spent.prompt_tokens,
                        completion_tokens=spent.completion_tokens,
                        load_ms=spent.load_ms,
                        http_status=result.status,
                    )
                if len(refused) >= self.reask:
                    refusal = Failure(FAILED, "invalid_output", problem, FATAL, result.status)
                    return self.outcome(refusal, spent, started)
                refused.append(Refusal(result.text, problem))
        except Exception as exc:  # an actor's failure is an outcome, never a crash of the runner
            crash = Failure(ERROR, type(exc).__name__, f"{self.name}: {describe(exc)}", RETRYABLE)
            return self.outcome(crash, spent, started)

    def attempt(self, body: dict[str, Any], deadline: float, url: str) -> Answer | Failure:
        reply = self.post(body, deadline, url)
        if isinstance(reply, Failure):
            return reply
        if not 200 <= reply.status < 300:
            return self.refused_by_server(reply, url)
        try:
            found = self.answer(json.loads(reply.body))
        except (ValueError, LookupError, TypeError, AttributeError) as exc:
            message = (
                f"{self.name}: the response is not the JSON expected ({describe(exc)}): {snippet(reply.body)}"
            )
            return Failure(ERROR, "bad_response", message, RETRYABLE, reply.status)
        return Answer(found.text, found.prompt_tokens, found.completion_tokens, found.load_ms, reply.status)

    def post(self, body: dict[str, Any], deadline: float, url: str) -> Reply | Failure:
        """POST `body` to `url` and read the whole response by `deadline`; the response is closed on
        every path."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return self.timed_out(None)
        try:
            with self.client.stream("POST", url, json=body, timeout=client_timeout(remaining)) as response:
                status = response.status_code
                chunks: list[bytes] = []
                size = 0
                try:
                    for chunk in response.iter_bytes():
                        if time.monotonic() > deadline:
                            return self.timed_out(status)
                        size += len(chunk)
                        if size > MAX_BODY_BYTES:
                            message = f"{self.name}: the response is larger than {MAX_BODY_BYTES} bytes"
                            return Failure(ERROR, "bad_response", message, RETRYABLE, status)
                        chunks.append(chunk)
                except httpx.TimeoutException:
                    return self.timed_out(status)
                except httpx.TransportError as exc:  # the body ended early (or the connection broke)
                    message = f"{self.name}: the response from {safe_url(url)} broke off: {describe(exc)}"
                    return Failure(ERROR, "bad_response", message, RETRYABLE, status)
                return Reply(status, response.headers, b"".join(chunks))
        except httpx.TimeoutException:
            return self.timed_out(None)
        except httpx.TransportError as exc:
            message = f"{self.name}: no answer from {safe_url(url)}: {describe(exc)}"
            return Failure(ERROR, "connection_error", message, RETRYABLE)

    def timed_out(self, status: int | None) -> Failure:
        message = f"{self.name} took longer than {self.timeout:g} s"
        return Failure(TIMEOUT, "timeout", message, RETRYABLE, status)

    def refused_by_server(self, reply: Reply, url: str) -> Failure:
        status = reply.status
        said, code = server_error(reply.body)
        message = f"{self.name}: HTTP {status} from {safe_url(url)}" + (f": {said}" if said else "")
        retry_after = parse_retry_after(reply.headers.get("retry-after"))
        if status == 429:
            return Failure(ERROR, "rate_limited", message, RATE_LIMITED, status, retry_after)
        if status in RETRYABLE_STATUSES:
            return Failure(ERROR, f"http_{status}", message, RETRYABLE, status, retry_after)
        return Failure(ERROR, fatal_kind(status, said, code), message, FATAL, status)

    def outcome(self, failed: Failure, spent: Answer, started: float) -> Outcome:
        return Outcome(
            sentinel=failed.sentinel,
            error_kind=failed.kind,
            error_message=self.mask(failed.message)[:MAX_MESSAGE],
            latency_ms=elapsed_ms(started),
            prompt_tokens=spent.prompt_tokens,
            completion_tokens=spent.completion_tokens,
            load_ms=spent.load_ms,
            http_status=failed.http_status,
            retry_after=failed.retry_after,
            failed_as=failed.failed_as,
        )

    def mask(self, text: str) -> str:
        """`text` without any known secret, this actor's API key included (whatever its variable's name)."""
        text = redact(text)
        for secret in self._secrets:
            text = text.replace(secret.reveal(), MASK)
        return text


# ---- helpers ---------------------------------------------------------------------------------------------


def client_timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(5.0, seconds))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """The seconds a Retry-After header asks to wait (a number of seconds or an HTTP date), at least 0;
    None when there is none or it cannot be read."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def server_error(body: bytes) -> tuple[str, str | None]:
    """The message and code of an error body: OpenAI's {"error": {"message", "code"}}, Ollama's
    {"error": "..."}, {"detail": ...}, or the start of the text."""
    try:
        payload = json.loads(body)
    except ValueError:
        return snippet(body), None
    error = (
        payload.get("error", payload.get("detail", payload.get("message")))
        if isinstance(payload, dict)
        else None
    )
    if isinstance(error, dict):
        code = error.get("code") if isinstance(error.get("code"), str) else error.get("type")
        return str(error.get("message") or json.dumps(error)), code if isinstance(code, str) else None
    if isinstance(error, str):
        return error, None
    return snippet(body), None


def fatal_kind(status: int, message: str, code: str | None) -> str:
    lowered = message.lower()
    if code in CONTEXT_CODES or any(phrase in lowered for phrase in CONTEXT_PHRASES):
        return "context_exceeded"
    if status == 404 and (code == "model_not_found" or "model" in lowered):
        return "model_not_found"
    return f"http_{status}"


def chat_messages(system: str | None, prompt: str, refused: Sequence[Refusal]) -> list[dict[str, str]]:
    """The conversation: the system prompt, the prompt, then each refused answer and a re-ask."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    for refusal in refused:
        messages.append({"role": "assistant", "content": refusal.answer})
        messages.append({"role": "user", "content": REASK_PROMPT.format(problem=refusal.problem)})
    return messages


def reasked_prompt(prompt: str, refused: Sequence[Refusal]) -> str:
    """A single prompt (no chat): the prompt, then the last refused answer and why it was refused."""
    if not refused:
        return prompt
    last = refused[-1]
    return f"{prompt}\n\nYour previous answer:\n{last.answer}\n\n{REASK_PROMPT.format(problem=last.problem)}"


def add_counts(spent: Answer, more: Answer) -> Answer:
    return Answer(
        more.text,
        add(spent.prompt_tokens, more.prompt_tokens),
        add(spent.completion_tokens, more.completion_tokens),
        add(spent.load_ms, more.load_ms),
        more.status,
    )


def add(a: N | None, b: N | None) -> N | None:
    if a is None:
        return b
    return a if b is None else a + b


def count(value: Any) -> int | None:
    """A token count from the server: an int, or None when it sent none."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def text_of(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"the answer is {type(value).__name__}, not text")
    return value


def output_limit(settings: Any, *names: str) -> int | None:
    """The first positive integer among `settings[name]` (max_tokens, num_predict...), if any."""
    if not isinstance(settings, dict):
        return None
    for name in names:
        value = count(settings.get(name))
        if value is not None and value > 0:
            return value
    return None


def is_http_url(value: Any) -> bool:
    return isinstance(value, str) and HTTP_URL.fullmatch(value) is not None


def endpoints_rule(key: str) -> str:
    """The rule a list of servers breaks, as workflow_check_actors() words it."""
    return (f'config.{key} as a list must hold distinct http(s) URLs, each a URL or {{"url": URL, '
            '"max_concurrency": a whole number 1-100000}')  # fmt: skip


def servers_capacity(spec: ActorSpec) -> int | None:
    """The calls an actor's servers take at once when its config lists several and caps each one
    ({"url", "max_concurrency"}): their sum, how many calls a worker may have in flight for it when
    the actor sets no max_concurrency of its own; else None."""
    servers = spec.config.get("base_url" if spec.actor_type == "openai" else "url")
    if not isinstance(servers, list) or server_urls(servers) is None:
        return None
    caps = [
        int(server["max_concurrency"])
        for server in servers
        if isinstance(server, dict) and "max_concurrency" in server
    ]
    return sum(caps) if len(caps) == len(servers) else None


def server_urls(value: Any) -> list[str] | None:
    """The base URLs of a list of servers (actor_endpoints() in SQL: each a URL, or {"url": URL,
    "max_concurrency": N}; distinct once a trailing '/' is cut), or None when the list does not fit."""
    if not isinstance(value, list) or not value:
        return None
    urls = []
    for element in value:
        if isinstance(element, dict):
            cap = element.get("max_concurrency", 1)
            if set(element) - {"url", "max_concurrency"} or not is_whole(cap, 1, 100000):
                return None
            element = element.get("url")
        if not isinstance(element, str) or not is_http_url(url := element.rstrip("/")):
            return None
        urls.append(url)
    return urls if len(set(urls)) == len(urls) else None


def names_model(value: Any) -> bool:
    return isinstance(value, str) and value.strip(" ") != ""  # SQL: btrim(model) <> ''


def is_whole(value: Any, low: int, high: int) -> bool:
    """An integral JSON number in [low, high] (2.0 counts, as it does in SQL; true does not)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return low <= value <= high and float(value).is_integer()


def check_reask(config: Mapping[str, Any]) -> str | None:
    return REASK_RULE if "reask" in config and not is_whole(config["reask"], 0, MAX_REASK) else None


def safe_url(url: str) -> str:
    """The URL without user or password, for messages."""
    try:
        return str(httpx.URL(url).copy_with(username=None, password=None))
    except (httpx.InvalidURL, TypeError, ValueError):
        return "the configured URL"


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def snippet(body: bytes) -> str:
    return body[:MAX_MESSAGE].decode(errors="replace").strip()
