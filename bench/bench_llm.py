"""LLM actors against the loopback server: how busy one worker keeps a slot-limited server.

1,000 postings through one `openai` conversation, one worker process, the server (its own process,
so that it does not share this one's interpreter lock) answering each request in 50 ms with 16 slots
(like llama.cpp's `--parallel 16`): the ideal is 16 / 0.05 = 320 requests/s. `actors.saturation_ratio`
is the run's requests per second over that ideal (the run's whole time, start-up and the last chunk's
drain included), with the actor's `max_concurrency` at 24, half as many again as the server's slots
(as the README advises: the server queues the extra requests, so a slot that frees is refilled at
once instead of after the client's turnaround); `actors.saturation_ratio.cap_16` is the same run
with the cap equal to the slots. Measured in the same run as baselines: as many client threads as the
cap sending the same 1,000 requests straight to the server with httpx, no engine
(`actors.direct_requests_per_s`, `.cap_16`); and the same run with a python actor that sleeps 50 ms
instead of calling (`actors.sleep_actor_requests_per_s`, gated like the LLM actor, 16 at once): the
engine and the gate without HTTP. The gate's cost per call is one `actor_settle_and_admit()`, the
round trip a thread makes between two successful calls (median of 200, one after the other).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.loopback_llm import COUNTERS_PATH
from bench.results import Result
from turing_db import database
from turing_db.runner import WaveBatchProcessor

WORKFLOW_ID = 9201
POSTINGS = 1_000
LATENCY = 0.05
SLOTS = 16
IDEAL = SLOTS / LATENCY
CHUNK = 200  # the default chunk size
CAP = 24  # max_concurrency: half as many again as the slots

SETUP = """
INSERT INTO actors (actor_name, actor_type, config, max_concurrency, timeout_seconds)
VALUES ('bench_llm', 'openai', CAST(:config AS jsonb), :slots, 10);
INSERT INTO workflows (workflow_id, workflow_name) VALUES (:workflow, 'llm benchmark');
INSERT INTO conversations (conversation_name, canonical_name, actor_id)
VALUES ('bench_ask', 'bench_ask', (SELECT actor_id FROM actors WHERE actor_name = 'bench_llm'));
INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order, is_entry_point)
VALUES (:workflow, (SELECT conversation_id FROM conversations WHERE canonical_name = 'bench_ask'), 1, true);
INSERT INTO instructions (conversation_id, prompt_template)
VALUES ((SELECT conversation_id FROM conversations WHERE canonical_name = 'bench_ask'), 'Summarise {job_title}: {job_description}');
INSERT INTO instruction_steps (instruction_id, branch_condition, next_conversation_id, branch_priority)
SELECT instruction_id, condition, NULL, priority
  FROM instructions, (VALUES ('*', 100), ('[ERROR]', 10), ('[TIMEOUT]', 10), ('[CIRCUIT_OPEN]', 10)) AS b (condition, priority)
 WHERE conversation_id = (SELECT conversation_id FROM conversations WHERE canonical_name = 'bench_ask');
DELETE FROM postings;
INSERT INTO postings (job_title, job_description, source)
SELECT 'LLM benchmark job ' || i, 'A posting sent to the loopback model, number ' || i || '.', 'bench'
  FROM generate_series(1, :postings) AS i;
"""


@contextlib.contextmanager
def loopback_server() -> Iterator[str]:
    """The loopback LLM server in a process of its own; its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.loopback_llm", "--latency-ms", str(LATENCY * 1000), "--slots", str(SLOTS)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(timeout=10)


def counters(url: str) -> dict:
    return httpx.get(url + COUNTERS_PATH).json()  # type: ignore[no-any-return]


def direct_requests_per_second(url: str, clients: int) -> float:
    """The baseline: the same requests from `clients` threads with one httpx client, no engine."""
    body = {"model": "m", "messages": [{"role": "user", "content": "Summarise a job"}]}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    with httpx.Client(limits=limits) as client:

        def ask(_: int) -> None:
            client.post(f"{url}/v1/chat/completions", json=body).raise_for_status()

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(ask, range(POSTINGS)))
        return POSTINGS / (time.perf_counter() - started)


def gate_ms_per_call(engine: Engine) -> float:
    actor_id = int(
        engine.connect()
        .execute(text("SELECT actor_id FROM actors WHERE actor_name = 'bench_llm'"))
        .scalar_one()
    )
    timings = []
    held = None
    for _ in range(200):
        started = time.perf_counter()
        admission = database.actor_admit(engine, actor_id, "bench-gate", 30, held)
        assert admission.permit_id is not None, admission
        held = database.Held(admission.permit_id, 30)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def engine_requests_per_second(engine: Engine, url: str, cap: int) -> tuple[float, int]:
    """One run of the 1,000 postings with the actor's cap at `cap`: requests/s, and the most the server had at once."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM workflow_runs WHERE workflow_id = :w; "
                          "UPDATE actors SET max_concurrency = :cap WHERE actor_name = 'bench_llm'"),
                     {"w": WORKFLOW_ID, "cap": cap})  # fmt: skip
    before = counters(url)
    summary = WaveBatchProcessor(WORKFLOW_ID, engine=engine, chunk_size=CHUNK).run()
    served = counters(url)
    asked = served["paths"].get("POST /v1/chat/completions", 0) - before["paths"].get(
        "POST /v1/chat/completions", 0
    )
    assert summary.completed == POSTINGS and asked == POSTINGS, (summary, served)
    return POSTINGS / summary.elapsed_seconds, served["max_in_flight"]


def run(engine: Engine) -> list[Result]:
    with loopback_server() as url:
        config = f'{{"base_url": "{url}/v1", "model": "m"}}'
        with engine.begin() as conn:
            conn.execute(
                text(SETUP), {"config": config, "slots": SLOTS, "workflow": WORKFLOW_ID, "postings": POSTINGS}
            )
        direct_at_slots = direct_requests_per_second(url, SLOTS)
        direct = direct_requests_per_second(url, CAP)
        at_slots, _ = engine_requests_per_second(engine, url, SLOTS)
        engine_rate, most_in_flight = engine_requests_per_second(engine, url, CAP)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM workflow_runs WHERE workflow_id = :w; UPDATE actors SET actor_type = 'python', "
                          "config = '{\"callable\": \"bench.actors:fifty_ms\"}', max_concurrency = :slots "
                          "WHERE actor_name = 'bench_llm'"),
                     {"w": WORKFLOW_ID, "slots": SLOTS})  # fmt: skip
    sleeping = WaveBatchProcessor(WORKFLOW_ID, engine=engine, chunk_size=CHUNK).run()
    assert sleeping.completed == POSTINGS, sleeping
    sleep_rate = POSTINGS / sleeping.elapsed_seconds
    gate_ms = gate_ms_per_call(engine)
    note = f"{POSTINGS} postings, 1 worker, loopback server {LATENCY * 1000:.0f} ms x {SLOTS} slots (ideal {IDEAL:.0f}/s)"
    return [
        Result("actors.requests_per_s", round(engine_rate, 1), "requests/s", True, note + f", cap {CAP}; the whole run"),
        Result("actors.saturation_ratio", round(engine_rate / IDEAL, 3), "x", True,
               f"requests/s over the ideal, cap {CAP} (goal >= 0.95)"),
        Result("actors.direct_requests_per_s", round(direct, 1), "requests/s", True,
               f"baseline, same run: {CAP} httpx threads straight to the server, {POSTINGS} requests"),
        Result("actors.ratio_vs_direct", round(engine_rate / direct, 3), "x", True, "the engine over the direct baseline"),
        Result("actors.saturation_ratio.cap_16", round(at_slots / IDEAL, 3), "x", True,
               f"the same with the cap equal to the slots ({SLOTS}): every client turnaround idles a slot"),
        Result("actors.direct_requests_per_s.cap_16", round(direct_at_slots, 1), "requests/s", True,
               f"baseline, same run: {SLOTS} httpx threads straight to the server"),
        Result("actors.ratio_vs_direct.cap_16", round(at_slots / direct_at_slots, 3), "x", True,
               "the engine over the direct baseline, both at 16"),
        Result("actors.sleep_actor_requests_per_s", round(sleep_rate, 1), "requests/s", True,
               "the same run, a python actor sleeping 50 ms (gated, 16 at once): the engine without HTTP"),
        Result("actors.max_in_flight", most_in_flight, "requests", True, f"most requests the server had at once (of {SLOTS})"),
        Result("actors.gate_ms_per_call", round(gate_ms, 2), "ms", False,
               "actor_settle_and_admit(): a thread's round trip between two successes, median of 200"),
    ]  # fmt: skip
