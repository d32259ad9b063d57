"""A loopback LLM server on 127.0.0.1 that speaks enough Ollama and OpenAI for tests and benchmarks.

    with LoopbackLLM(latency=0.02, slots=4) as llm:
        llm.url              # http://127.0.0.1:PORT, for the ollama actor's config.url
        llm.openai_base_url  # http://127.0.0.1:PORT/v1, for the openai actor's config.base_url
        llm.script(Fault.rate_limited(2), 500, "hang")  # the next three generation requests
        llm.set_fault(Fault.http(503))                     # every request after them, until None

Endpoints: POST /api/generate, POST /api/chat, GET /api/tags, GET /api/version (Ollama, not streamed);
POST /v1/chat/completions, GET /v1/models (OpenAI). With `models` given, another model gets a 404 in
the style of its API; without, any model is accepted.

Answers are deterministic: `responder(prompt, model, request)` when given, else "answer to " and the
first 12 hex digits of the prompt's SHA-256 (the prompt: /api/generate's `prompt`, or the last user
message of a chat). A request for JSON (Ollama `format`, OpenAI `response_format` of type json_object
or json_schema) gets `{"answer": "answer to ...", "score": 3}` instead, which satisfies simple schemas
(an object with a string `answer` and an integer `score`). Tokens are whitespace-separated words: the
prompt's (with the system prompt, or every message of a chat) and the answer's.

Each generation request waits for one of `slots` (like llama.cpp's --parallel), then `latency` seconds;
the first request for a model also waits `load_delay` seconds, reported as Ollama's load_duration.
Faults apply to the generation requests (the GET endpoints always answer): the scripted ones first,
one per request, then the standing one. A status fault answers at once, without a slot; "hang" holds its
slot until the client goes away or the server stops; "trickle" sends the answer `chunk` bytes every
`interval` seconds; "truncated" promises more bytes than it sends, then closes; "invalid_json" is a 200
whose body is not JSON; "missing_fields" a 200 whose JSON has no answer; "reset" closes the connection
with a TCP reset, without answering.

`stop()` stops for real: the listening socket and every open connection are closed (new connections are
refused) and `start()` listens again on the same port. Run as a process it serves until SIGTERM:

    python -m bench.loopback_llm --port 11435 --latency-ms 50 --slots 16
"""

from __future__ import annotations

import argparse
import hashlib
import json
import select
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[str, str, dict[str, Any]], str]
FAULT_KINDS = ("status", "hang", "trickle", "truncated", "invalid_json", "missing_fields", "reset")
GENERATION_PATHS = ("/api/generate", "/api/chat", "/v1/chat/completions")
JSON_SCORE = 3
STATUS_MESSAGES = {
    400: "bad request",
    401: "invalid API key",
    403: "forbidden",
    429: "rate limit exceeded",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable: the model is loading",
    504: "gateway timeout",
}
POLL_SECONDS = 0.02
COUNTERS_PATH = "/_loopback/counters"  # GET: requests, max_in_flight and paths, as JSON


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour; see the module docstring for what each kind does."""

    kind: str
    status: int | None = None  # kind "status"
    retry_after: float | str | None = None  # the Retry-After header: seconds, or an HTTP date
    message: str | None = None  # the error body's message (default: by status)
    code: str | None = None  # the OpenAI error code
    interval: float = 0.05  # kind "trickle": seconds between chunks
    chunk: int = 8  # kind "trickle": bytes per chunk

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; the kinds are {', '.join(FAULT_KINDS)}")
        if (self.kind == "status") != (self.status is not None):
            raise ValueError("a status fault needs a status, and only a status fault has one")

    @classmethod
    def http(
        cls,
        status: int,
        message: str | None = None,
        *,
        retry_after: float | str | None = None,
        code: str | None = None,
    ) -> Fault:
        return cls("status", status=status, retry_after=retry_after, message=message, code=code)

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = 1) -> Fault:
        return cls.http(429, retry_after=retry_after, code="rate_limit_exceeded")

    @classmethod
    def model_not_found(cls) -> Fault:
        return cls.http(404, code="model_not_found")

    @classmethod
    def context_exceeded(cls) -> Fault:
        message = "This model's maximum context length is 4096 tokens; the prompt is longer (context length exceeded)"
        return cls.http(400, message, code="context_length_exceeded")

    @classmethod
    def hang(cls) -> Fault:
        return cls("hang")

    @classmethod
    def trickle(cls, interval: float = 0.05, chunk: int = 8) -> Fault:
        return cls("trickle", interval=interval, chunk=chunk)

    @classmethod
    def truncated(cls) -> Fault:
        return cls("truncated")

    @classmethod
    def invalid_json(cls) -> Fault:
        return cls("invalid_json")

    @classmethod
    def missing_fields(cls) -> Fault:
        return cls("missing_fields")

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")


def as_fault(fault: Fault | int | str) -> Fault:
    """A Fault, a status code (429 → Fault.http(429)) or a kind ("hang")."""
    if isinstance(fault, Fault):
        return fault
    if isinstance(fault, int):
        return Fault.http(fault)
    return Fault(fault)


def default_answer(prompt: str) -> str:
    return f"answer to {hashlib.sha256(prompt.encode()).hexdigest()[:12]}"


def words(text: str) -> int:
    return len(text.split())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() closes the connections itself: a hung one must not block it
    allow_reuse_address = True  # start() again on the same port
    request_queue_size = 128  # socketserver's 5 drops the SYNs of clients that connect at once (a 1 s stall)

    def __init__(self, llm: LoopbackLLM, port: int):
        self.llm = llm
        self.stopping = threading.Event()
        self.resets: set[int] = set()  # file numbers of connections to close with a reset
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:  # HTTPServer's would look up the host's name
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        self.llm._opened(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        self.llm._closed(request)
        if request.fileno() in self.resets:
            self.resets.discard(request.fileno())
            request.close()  # with SO_LINGER 0: a reset, no FIN first
            return
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the actors' clients reuse connections
    disable_nagle_algorithm = True  # headers and body go out as two writes: Nagle would hold the body for the
    # client's delayed ACK (40 ms)
    server: _Server

    def do_GET(self) -> None:
        self.server.llm._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.llm._handle(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackLLM:
    """The server; counters and settings are safe to read and set from any thread."""

    def __init__(
        self,
        port: int = 0,
        *,
        latency: float = 0.0,
        slots: int = 16,
        models: set[str] | list[str] | None = None,
        load_delay: float = 0.0,
        responder: Responder | None = None,
        history: int = 1000,
    ):
        self.port = port  # 0: a free port, chosen at the first start() and kept for the next
        self.latency = latency
        self.models = set(models) if models is not None else None
        self.load_delay = load_delay
        self.responder = responder
        self._slots = slots
        self._history = history
        self._lock = threading.Condition()
        self._faults: deque[Fault] = deque()
        self._standing: Fault | None = None
        self._loaded: set[str] = set()
        self._loading: dict[str, threading.Lock] = {}
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sequence = 0
        self.reset_counters()

    # ---- life ------------------------------------------------------------------------------------------

    def start(self) -> LoopbackLLM:
        if self._server is not None:
            return self
        server = _Server(self, self.port)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_SECONDS},
            daemon=True,
            name="loopback-llm",
        )
        self._thread.start()
        return self

    def stop(self, wait: float = 2.0) -> None:
        """Close the listening socket and every connection, hung ones included; wait for them to end."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        thread.join()
        deadline = time.monotonic() + wait
        with self._lock:
            while self._connections and time.monotonic() < deadline:
                self._lock.wait(POLL_SECONDS)
        self._server = self._thread = None

    def __enter__(self) -> LoopbackLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    # ---- settings --------------------------------------------------------------------------------------

    @property
    def slots(self) -> int:
        return self._slots

    @slots.setter
    def slots(self, value: int) -> None:
        with self._lock:
            self._slots = value
            self._lock.notify_all()

    def script(self, *faults: Fault | int | str) -> None:
        """Queue faults for the next generation requests, one each, in order."""
        with self._lock:
            self._faults.extend(as_fault(fault) for fault in faults)

    def set_fault(self, fault: Fault | int | str | None) -> None:
        """A fault for every generation request once the script is spent (None: none), e.g. an outage."""
        with self._lock:
            self._standing = as_fault(fault) if fault is not None else None

    def unload(self) -> None:
        """Forget the loaded models: the next request for each pays `load_delay` again."""
        with self._lock:
            self._loaded.clear()

    # ---- counters --------------------------------------------------------------------------------------

    def reset_counters(self) -> None:
        with self._lock:
            self._requests = 0
            self._connections_opened = 0
            self._paths: Counter[str] = Counter()
            self._in_flight = 0
            self._max_in_flight = 0
            self._timestamps: deque[float] = deque(maxlen=self._history)
            self._authorizations: deque[str | None] = deque(maxlen=self._history)
            self._bodies: deque[Any] = deque(maxlen=self._history)

    @property
    def requests(self) -> int:
        """Requests received (answered or faulted), every endpoint."""
        with self._lock:
            return self._requests

    @property
    def paths(self) -> dict[str, int]:
        """Requests by "METHOD /path"."""
        with self._lock:
            return dict(self._paths)

    @property
    def in_flight(self) -> int:
        """Generation requests holding a slot now."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._max_in_flight

    @property
    def timestamps(self) -> list[float]:
        """time.monotonic() at each request's arrival (the last `history`)."""
        with self._lock:
            return list(self._timestamps)

    @property
    def authorizations(self) -> list[str | None]:
        """Each request's Authorization header, None when it had none (the last `history`)."""
        with self._lock:
            return list(self._authorizations)

    @property
    def bodies(self) -> list[Any]:
        """Each POST's body, parsed JSON or the text when it is not JSON (the last `history`)."""
        with self._lock:
            return list(self._bodies)

    @property
    def connections_opened(self) -> int:
        """TCP connections accepted: a client that reuses its connections opens few."""
        with self._lock:
            return self._connections_opened

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    # ---- the server's side -----------------------------------------------------------------------------

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)
            self._connections_opened += 1

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
            self._lock.notify_all()

    def _handle(self, handler: _Handler, method: str) -> None:
        arrived = time.monotonic()
        path = handler.path.split("?", 1)[0]
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0)) if method == "POST" else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self._lock:
            self._requests += 1
            self._paths[f"{method} {path}"] += 1
            self._timestamps.append(arrived)
            self._authorizations.append(handler.headers.get("Authorization"))
            if method == "POST":
                self._bodies.append(body)
        try:
            if method == "GET":
                self._answer_get(handler, path)
            elif path not in GENERATION_PATHS:
                _send_json(handler, 404, {"error": f"no endpoint POST {path}"})
            elif not isinstance(body, dict) or not isinstance(body.get("model"), str):
                _send_json(
                    handler, 400, _error_body(path, "the body must be a JSON object with a model", None)
                )
            else:
                self._generate(handler, path, body, arrived)
        except OSError:  # the client went away, or stop() closed the connection
            handler.close_connection = True

    def _answer_get(self, handler: _Handler, path: str) -> None:
        with self._lock:
            names = sorted(self.models if self.models is not None else self._loaded)
        if path == "/api/version":
            _send_json(handler, 200, {"version": "0.0.0-loopback"})
        elif path == "/api/tags":
            models = [{"name": name, "model": name, "modified_at": _now(), "size": 0,
                       "digest": hashlib.sha256(name.encode()).hexdigest(), "details": {"format": "loopback"}}
                      for name in names]  # fmt: skip
            _send_json(handler, 200, {"models": models})
        elif path == "/v1/models":
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "loopback"} for name in names]
            _send_json(handler, 200, {"object": "list", "data": data})
        elif path == COUNTERS_PATH:  # for a server in another process (benchmarks); not an LLM endpoint
            _send_json(handler, 200, {"requests": self.requests, "max_in_flight": self.max_in_flight,
                                      "paths": self.paths})  # fmt: skip
        else:
            _send_json(handler, 404, {"error": f"no endpoint GET {path}"})

    def _generate(self, handler: _Handler, path: str, body: dict[str, Any], arrived: float) -> None:
        model = body["model"]
        fault = self._next_fault()
        if fault is not None and fault.kind == "status":
            self._send_status(handler, path, model, fault)
        elif fault is not None and fault.kind == "reset":
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.server.resets.add(handler.connection.fileno())
            handler.close_connection = True
        else:
            with self._slot(handler.server.stopping):
                if fault is not None and fault.kind == "hang":
                    self._hang(handler)
                elif self.models is not None and model not in self.models:
                    self._send_status(handler, path, model, Fault.model_not_found())
                else:
                    self._answer(handler, path, body, arrived, fault)

    def _answer(
        self, handler: _Handler, path: str, body: dict[str, Any], arrived: float, fault: Fault | None
    ) -> None:
        """The answer, after the model's load and the latency; well-formed unless `fault` says otherwise."""
        load_ns = self._load(body["model"], handler.server.stopping)
        handler.server.stopping.wait(self.latency)
        payload = json.dumps(self._reply(path, body, load_ns, arrived)).encode()
        if fault is None:
            _send(handler, 200, payload)
        elif fault.kind == "trickle":
            self._trickle(handler, payload, fault)
        elif fault.kind == "truncated":
            _send_head(handler, 200, len(payload) + 64)
            handler.wfile.write(payload[: len(payload) // 2])
            handler.close_connection = True
        elif fault.kind == "missing_fields":
            _send_json(handler, 200, {"model": body["model"], "done": True})
        else:  # invalid_json
            _send(handler, 200, b"this is not JSON {")

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else self._standing

    @contextmanager
    def _slot(self, stopping: threading.Event) -> Iterator[None]:
        with self._lock:
            while self._in_flight >= self._slots and not stopping.is_set():
                self._lock.wait(POLL_SECONDS)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    def _load(self, model: str, stopping: threading.Event) -> int:
        """Load `model` if it is not loaded (once, whoever asks meanwhile waits); the load's nanoseconds."""
        with self._lock:
            loading = self._loading.setdefault(model, threading.Lock())
        with loading:
            with self._lock:
                if model in self._loaded:
                    return 0
            started = time.monotonic()
            stopping.wait(self.load_delay)
            with self._lock:
                self._loaded.add(model)
            return int((time.monotonic() - started) * 1e9)

    def _reply(self, path: str, body: dict[str, Any], load_ns: int, arrived: float) -> dict[str, Any]:
        model = body["model"]
        prompt, read = _prompt_of(path, body)
        wants_json = _wants_json(path, body)
        if self.responder is not None:
            answer = self.responder(prompt, model, body)
        elif wants_json:
            answer = json.dumps({"answer": default_answer(prompt), "score": JSON_SCORE})
        else:
            answer = default_answer(prompt)
        prompt_tokens, completion_tokens = words(read), words(answer)
        if path == "/v1/chat/completions":
            with self._lock:
                self._sequence += 1
                sequence = self._sequence
            return {
                "id": f"chatcmpl-loopback-{sequence}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        reply: dict[str, Any] = {"model": model, "created_at": _now()}
        if path == "/api/chat":
            reply["message"] = {"role": "assistant", "content": answer}
        else:
            reply["response"] = answer
        return reply | {
            "done": True,
            "done_reason": "stop",
            "total_duration": int((time.monotonic() - arrived) * 1e9),
            "load_duration": load_ns,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 0,
            "eval_count": completion_tokens,
            "eval_duration": int(self.latency * 1e9),
        }

    def _send_status(self, handler: _Handler, path: str, model: str, fault: Fault) -> None:
        status = fault.status or 500
        message = fault.message
        if message is None:
            openai = path.startswith("/v1/")
            message = STATUS_MESSAGES.get(status, f"HTTP {status}")
            if status == 404:
                message = f"The model `{model}` does not exist" if openai else f"model '{model}' not found"
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        _send_json(handler, status, _error_body(path, message, fault.code), headers)

    def _hang(self, handler: _Handler) -> None:
        """Answer nothing until the client goes away or the server stops."""
        handler.close_connection = True
        while not handler.server.stopping.wait(POLL_SECONDS):
            if _client_gone(handler.connection):
                return

    def _trickle(self, handler: _Handler, payload: bytes, fault: Fault) -> None:
        _send_head(handler, 200, len(payload))
        for start in range(0, len(payload), max(fault.chunk, 1)):
            if handler.server.stopping.wait(fault.interval):
                handler.close_connection = True
                return
            handler.wfile.write(payload[start : start + max(fault.chunk, 1)])


def _prompt_of(path: str, body: dict[str, Any]) -> tuple[str, str]:
    """The prompt the answer is for, and all the text the prompt tokens count."""
    if path == "/api/generate":
        prompt, system = str(body.get("prompt") or ""), str(body.get("system") or "")
        return prompt, f"{system} {prompt}"
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    users = [str(m.get("content") or "") for m in messages if m.get("role") == "user"]
    return (users[-1] if users else ""), " ".join(str(m.get("content") or "") for m in messages)


def _wants_json(path: str, body: dict[str, Any]) -> bool:
    if path.startswith("/v1/"):
        response_format = body.get("response_format")
        return isinstance(response_format, dict) and response_format.get("type") in (
            "json_object",
            "json_schema",
        )
    return body.get("format") not in (None, "", False)


def _error_body(path: str, message: str, code: str | None) -> dict[str, Any]:
    if path.startswith("/v1/"):
        return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return {"error": message}


def _client_gone(connection: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _send_head(handler: _Handler, status: int, length: int, headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(length))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()


def _send(handler: _Handler, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
    _send_head(handler, status, len(payload), headers)
    handler.wfile.write(payload)


def _send_json(handler: _Handler, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
    _send(handler, status, json.dumps(payload).encode(), headers)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loopback_llm", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="milliseconds per request")
    parser.add_argument("--slots", type=int, default=16, help="requests processed at once")
    parser.add_argument(
        "--load-delay-ms", type=float, default=0.0, help="added to each model's first request"
    )
    parser.add_argument("--model", action="append", help="a known model (repeat; default: any model)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    llm = LoopbackLLM(
        args.port,
        latency=args.latency_ms / 1000,
        slots=args.slots,
        models=args.model,
        load_delay=args.load_delay_ms / 1000,
    )
    with llm:
        print(llm.url, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
