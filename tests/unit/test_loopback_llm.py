"""The loopback LLM server speaks Ollama and OpenAI, keeps its slots, stops for real and fakes each fault."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.loopback_llm import Fault, LoopbackLLM, default_answer

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def llm() -> Iterator[LoopbackLLM]:
    with LoopbackLLM(latency=0.01) as server:
        yield server


def post(llm: LoopbackLLM, path: str, body: dict, timeout: float = 5.0, **kwargs) -> httpx.Response:
    return httpx.post(f"{llm.url}{path}", json=body, timeout=timeout, **kwargs)


def test_ollama_generate_answers_as_ollama_does(llm: LoopbackLLM) -> None:
    response = post(
        llm, "/api/generate", {"model": "m", "prompt": "one two three", "system": "be brief", "stream": False}
    )
    assert response.status_code == 200
    reply = response.json()
    digest = hashlib.sha256(b"one two three").hexdigest()[:12]
    assert reply["response"] == f"answer to {digest}" == default_answer("one two three")
    assert reply["model"] == "m" and reply["done"] is True and reply["done_reason"] == "stop"
    assert reply["created_at"].endswith("Z")
    assert reply["prompt_eval_count"] == 5  # the prompt's three words and the system prompt's two
    assert reply["eval_count"] == 3
    for field in ("total_duration", "load_duration", "eval_duration"):
        assert isinstance(reply[field], int)
    assert reply["total_duration"] >= 10_000_000  # the latency, in nanoseconds


def test_ollama_chat_answers_the_last_user_message(llm: LoopbackLLM) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    reply = post(llm, "/api/chat", {"model": "m", "messages": messages, "stream": False}).json()
    assert reply["message"] == {"role": "assistant", "content": default_answer("second question")}
    assert "response" not in reply and reply["done"] is True
    assert reply["prompt_eval_count"] == 8  # every message's words


def test_openai_chat_completions_answers_as_openai_does(llm: LoopbackLLM) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "a b c d"}]}
    reply = post(llm, "/v1/chat/completions", body).json()
    assert reply["object"] == "chat.completion" and reply["model"] == "m"
    assert reply["id"].startswith("chatcmpl-") and isinstance(reply["created"], int)
    assert reply["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": default_answer("a b c d")},
            "finish_reason": "stop",
        }
    ]
    assert reply["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}


def test_json_is_answered_when_asked_for(llm: LoopbackLLM) -> None:
    generate = post(llm, "/api/generate", {"model": "m", "prompt": "p", "format": "json"}).json()
    assert json.loads(generate["response"]) == {"answer": default_answer("p"), "score": 3}
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    for response_format in ({"type": "json_object"}, schema):
        body = {
            "model": "m",
            "messages": [{"role": "user", "content": "p"}],
            "response_format": response_format,
        }
        content = post(llm, "/v1/chat/completions", body).json()["choices"][0]["message"]["content"]
        assert json.loads(content) == {"answer": default_answer("p"), "score": 3}
    text = post(llm, "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "p"}]})
    assert text.json()["choices"][0]["message"]["content"] == default_answer("p")


def test_a_responder_writes_the_answers() -> None:
    seen = []

    def responder(prompt: str, model: str, request: dict) -> str:
        seen.append((prompt, model, request["options"]))
        return f"{model} says {prompt.upper()}"

    with LoopbackLLM(responder=responder) as llm:
        reply = post(llm, "/api/generate", {"model": "m", "prompt": "hi", "options": {"seed": 1}}).json()
    assert reply["response"] == "m says HI"
    assert seen == [("hi", "m", {"seed": 1})]


def test_the_model_lists_and_unknown_models() -> None:
    with LoopbackLLM(models=["known:1b", "other"]) as llm:
        assert [m["name"] for m in httpx.get(f"{llm.url}/api/tags").json()["models"]] == ["known:1b", "other"]
        assert [m["id"] for m in httpx.get(f"{llm.openai_base_url}/models").json()["data"]] == [
            "known:1b",
            "other",
        ]
        assert httpx.get(f"{llm.url}/api/version").json()["version"]
        missing = post(llm, "/api/generate", {"model": "nope", "prompt": "p"})
        assert missing.status_code == 404 and missing.json() == {"error": "model 'nope' not found"}
        body = {"model": "nope", "messages": [{"role": "user", "content": "p"}]}
        error = post(llm, "/v1/chat/completions", body)
        assert error.status_code == 404 and error.json()["error"]["code"] == "model_not_found"
        assert "nope" in error.json()["error"]["message"]
        assert post(llm, "/api/generate", {"model": "known:1b", "prompt": "p"}).status_code == 200


def test_the_first_request_for_a_model_pays_its_load() -> None:
    with LoopbackLLM(load_delay=0.1) as llm:
        first = post(llm, "/api/generate", {"model": "m", "prompt": "p"}).json()
        second = post(llm, "/api/generate", {"model": "m", "prompt": "p"}).json()
        other = post(llm, "/api/generate", {"model": "n", "prompt": "p"}).json()
    assert first["load_duration"] >= 100_000_000
    assert second["load_duration"] == 0
    assert other["load_duration"] >= 100_000_000


def test_requests_beyond_the_slots_wait_for_one() -> None:
    with LoopbackLLM(latency=0.1, slots=2) as llm:
        statuses: list[int] = []
        threads = [
            threading.Thread(target=lambda: statuses.append(post(llm, "/api/generate", {"model": "m", "prompt": "p"}).status_code))
            for _ in range(8)
        ]  # fmt: skip
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        assert statuses == [200] * 8
        assert llm.max_in_flight == 2
        wait_for(lambda: llm.in_flight == 0)  # a slot is given back just after its answer is sent
        assert elapsed >= 0.38  # four rounds of two


def test_stop_closes_everything_and_start_listens_on_the_same_port(llm: LoopbackLLM) -> None:
    port = llm.port
    with httpx.Client(timeout=2) as client:
        assert client.post(f"{llm.url}/api/generate", json={"model": "m", "prompt": "p"}).status_code == 200
        llm.stop()
        assert not llm.running and llm.open_connections == 0
        with pytest.raises(httpx.TransportError):  # the kept-alive connection is closed too
            client.post(f"{llm.url}/api/generate", json={"model": "m", "prompt": "p"})
    with pytest.raises(httpx.ConnectError):
        post(llm, "/api/generate", {"model": "m", "prompt": "p"})
    llm.start()
    assert llm.port == port
    assert post(llm, "/api/generate", {"model": "m", "prompt": "p"}).status_code == 200


def test_a_hang_does_not_block_stop(llm: LoopbackLLM) -> None:
    llm.script("hang")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            post(llm, "/api/generate", {"model": "m", "prompt": "p"}, timeout=10)
        except httpx.TransportError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    wait_for(lambda: llm.in_flight == 1)
    started = time.monotonic()
    llm.stop()
    assert time.monotonic() - started < 1.0
    thread.join(timeout=2)
    assert not thread.is_alive() and len(errors) == 1
    assert llm.in_flight == 0


def test_a_hang_ends_when_the_client_goes_away(llm: LoopbackLLM) -> None:
    llm.script(Fault.hang())
    with pytest.raises(httpx.ReadTimeout):
        post(llm, "/api/generate", {"model": "m", "prompt": "p"}, timeout=0.2)
    wait_for(lambda: llm.in_flight == 0 and llm.open_connections == 0)


@pytest.mark.parametrize(
    ("fault", "status", "ollama_error"),
    [
        (Fault.model_not_found(), 404, "model 'm' not found"),
        (Fault.http(400), 400, "bad request"),
        (Fault.context_exceeded(), 400, None),
        (Fault.http(401), 401, "invalid API key"),
        (Fault.http(500), 500, "internal server error"),
        (Fault.http(502), 502, "bad gateway"),
        (503, 503, "service unavailable: the model is loading"),
        (Fault.http(504, "upstream slow"), 504, "upstream slow"),
    ],
)
def test_status_faults_answer_in_the_style_of_each_api(
    llm: LoopbackLLM, fault: Fault | int, status: int, ollama_error: str | None
) -> None:
    llm.script(fault, fault)
    ollama = post(llm, "/api/generate", {"model": "m", "prompt": "p"})
    assert ollama.status_code == status
    if ollama_error is not None:
        assert ollama.json() == {"error": ollama_error}
    openai = post(llm, "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "p"}]})
    assert openai.status_code == status
    assert set(openai.json()["error"]) == {"message", "type", "param", "code"}
    if fault == Fault.context_exceeded():
        assert openai.json()["error"]["code"] == "context_length_exceeded"
    assert post(llm, "/api/generate", {"model": "m", "prompt": "p"}).status_code == 200  # the script is spent


def test_a_429_says_when_to_retry(llm: LoopbackLLM) -> None:
    llm.script(Fault.rate_limited(2), Fault.rate_limited("Wed, 21 Oct 2015 07:28:00 GMT"))
    first = post(llm, "/api/generate", {"model": "m", "prompt": "p"})
    assert first.status_code == 429 and first.headers["Retry-After"] == "2"
    second = post(llm, "/v1/chat/completions", {"model": "m", "messages": []})
    assert second.status_code == 429 and second.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert second.json()["error"]["code"] == "rate_limit_exceeded"


def test_a_trickle_sends_the_answer_slowly(llm: LoopbackLLM) -> None:
    llm.script(Fault.trickle(interval=0.02, chunk=16))
    started = time.monotonic()
    response = post(llm, "/api/generate", {"model": "m", "prompt": "p"})
    elapsed = time.monotonic() - started
    chunks = -(-len(response.content) // 16)
    assert response.json()["response"] == default_answer("p")
    assert elapsed >= chunks * 0.02 * 0.9


def test_a_truncated_body_breaks_off(llm: LoopbackLLM) -> None:
    llm.script("truncated")
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete|complete message body"):
        post(llm, "/api/generate", {"model": "m", "prompt": "p"})


def test_invalid_json_is_a_200_that_does_not_parse(llm: LoopbackLLM) -> None:
    llm.script("invalid_json")
    response = post(llm, "/api/generate", {"model": "m", "prompt": "p"})
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_a_reset_answers_nothing(llm: LoopbackLLM) -> None:
    llm.script("reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        post(llm, "/api/generate", {"model": "m", "prompt": "p"})
    assert post(llm, "/api/generate", {"model": "m", "prompt": "p"}).status_code == 200


def test_a_standing_fault_lasts_until_cleared_and_the_script_goes_first(llm: LoopbackLLM) -> None:
    llm.set_fault(503)
    llm.script(429)
    statuses = [post(llm, "/api/generate", {"model": "m", "prompt": "p"}).status_code for _ in range(3)]
    assert statuses == [429, 503, 503]
    assert httpx.get(f"{llm.url}/api/version").status_code == 200  # GET endpoints never fault
    llm.set_fault(None)
    assert post(llm, "/api/generate", {"model": "m", "prompt": "p"}).status_code == 200


def test_faults_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="status"):
        Fault("status")


def test_the_counters(llm: LoopbackLLM) -> None:
    with httpx.Client(timeout=2) as client:
        for n in range(3):
            client.post(f"{llm.url}/api/generate", json={"model": "m", "prompt": f"p{n}"},
                        headers={"Authorization": f"Bearer k{n}"})  # fmt: skip
        client.get(f"{llm.url}/api/tags")
    assert llm.requests == 4
    assert llm.paths == {"POST /api/generate": 3, "GET /api/tags": 1}
    assert llm.authorizations == ["Bearer k0", "Bearer k1", "Bearer k2", None]
    assert [body["prompt"] for body in llm.bodies] == ["p0", "p1", "p2"]
    stamps = llm.timestamps
    assert len(stamps) == 4 and stamps == sorted(stamps) and stamps[-1] <= time.monotonic()
    assert llm.connections_opened == 1  # one kept-alive connection
    llm.reset_counters()
    assert (llm.requests, llm.paths, llm.bodies, llm.timestamps, llm.max_in_flight) == (0, {}, [], [], 0)


def test_the_bodies_kept_are_bounded() -> None:
    with LoopbackLLM(history=2) as llm:
        for n in range(4):
            post(llm, "/api/generate", {"model": "m", "prompt": f"p{n}"})
        assert [body["prompt"] for body in llm.bodies] == ["p2", "p3"]
        assert llm.requests == 4


def test_settings_can_change_while_it_runs(llm: LoopbackLLM) -> None:
    llm.latency = 0.15
    started = time.monotonic()
    post(llm, "/api/generate", {"model": "m", "prompt": "p"})
    assert time.monotonic() - started >= 0.15


@pytest.mark.slow
def test_it_runs_as_a_process_until_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.loopback_llm", "--port", "0", "--latency-ms", "5", "--slots", "2"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT_DIR,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        reply = httpx.post(f"{url}/api/generate", json={"model": "m", "prompt": "p"}, timeout=5).json()
        assert reply["response"] == default_answer("p")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/api/version")
    finally:
        if process.poll() is None:
            process.kill()


def wait_for(condition, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.01)


def test_many_clients_connecting_at_once_are_all_accepted_without_a_stall(llm: LoopbackLLM) -> None:
    """A listen backlog of socketserver's 5 drops SYNs when clients connect together: a 1 s retransmit."""
    import socket

    clients = 64
    ready = threading.Barrier(clients)
    took: list[float] = []

    def connect() -> None:
        ready.wait()
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", llm.port), timeout=5):
            took.append(time.monotonic() - started)

    threads = [threading.Thread(target=connect) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(took) == clients and max(took) < 0.9, sorted(took)[-3:]
