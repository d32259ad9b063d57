"""Inference at scale: several servers per actor, re-runs answered from the response cache, and how far
one PostgreSQL goes with many worker processes.

- Two loopback servers, each its own process answering in 50 ms with 16 slots: the ideal is
  2 × 16 / 0.05 = 640 requests/s. One worker process runs 2,000 postings through one `openai` actor whose
  base_url lists both, each server capped at 24 calls in flight (1.5 × its slots, as the README
  advises). `scale.two_servers.saturation_ratio` is the run's requests/s over the ideal (goal ≥ 0.95);
  the same-run baseline is 48 httpx threads sending the same requests straight to the two servers
  (half each), no engine.
- Cached re-run: the same 2,000 postings through an actor with `cache: true`, after a first run filled
  the cache; steps/s of the re-run, against a python actor that answers at once (no gate), same run.
- Many processes: 16,000 postings through one step of an instant python actor, with 1, 2, 4 and 8
  `turing run --join` processes on this machine; each posting-step is one claim (in chunks of 200) and
  one completion, so completions/s (from the checkpoints' commit times: first to last) is also postings
  claimed per second.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.loopback_llm import COUNTERS_PATH
from bench.results import Result
from turing_db.runner import WaveBatchProcessor

WORKFLOW_ID = 9301
POSTINGS = 2_000
LATENCY = 0.05
SLOTS = 16
IDEAL = 2 * SLOTS / LATENCY
PER_SERVER_CAP = 24
CHUNK = 200
PROCESS_POSTINGS = 16_000
PROCESS_COUNTS = (1, 2, 4, 8)

SETUP = """
INSERT INTO actors (actor_name, actor_type, config, max_concurrency, timeout_seconds)
VALUES ('bench_scale', 'python', '{"callable": "bench.actors:instant"}', NULL, 10);
INSERT INTO workflows (workflow_id, workflow_name) VALUES (:workflow, 'scale benchmark');
INSERT INTO conversations (conversation_name, canonical_name, actor_id)
VALUES ('bench_scale_ask', 'bench_scale_ask', (SELECT actor_id FROM actors WHERE actor_name = 'bench_scale'));
INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order, is_entry_point)
VALUES (:workflow, (SELECT conversation_id FROM conversations WHERE canonical_name = 'bench_scale_ask'), 1, true);
INSERT INTO instructions (conversation_id, prompt_template)
VALUES ((SELECT conversation_id FROM conversations WHERE canonical_name = 'bench_scale_ask'), 'Summarise {job_title}: {job_description}');
INSERT INTO instruction_steps (instruction_id, branch_condition, next_conversation_id, branch_priority)
SELECT instruction_id, condition, NULL, priority
  FROM instructions, (VALUES ('*', 100), ('[ERROR]', 10), ('[TIMEOUT]', 10), ('[CIRCUIT_OPEN]', 10)) AS b (condition, priority)
 WHERE conversation_id = (SELECT conversation_id FROM conversations WHERE canonical_name = 'bench_scale_ask');
"""

POSTINGS_SQL = """
DELETE FROM workflow_runs WHERE workflow_id = :workflow;
DELETE FROM postings;
INSERT INTO postings (job_title, job_description, source)
SELECT 'Scale benchmark job ' || i, 'A posting of the scale benchmark, number ' || i || '.', 'bench'
  FROM generate_series(1, :postings) AS i;
ANALYZE postings;
"""


@contextlib.contextmanager
def loopback_servers(count: int) -> Iterator[list[str]]:
    """`count` loopback LLM servers, each in a process of its own; their URLs."""
    servers = [
        subprocess.Popen([sys.executable, "-m", "bench.loopback_llm", "--latency-ms", str(LATENCY * 1000),
                          "--slots", str(SLOTS)], stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]  # fmt: skip
    try:
        yield [server.stdout.readline().strip() for server in servers if server.stdout is not None]
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)


def asked(urls: list[str]) -> int:
    return sum(
        httpx.get(url + COUNTERS_PATH).json()["paths"].get("POST /v1/chat/completions", 0) for url in urls
    )


def set_actor(engine: Engine, actor_type: str, config: str, postings: int) -> None:
    with engine.begin() as conn:
        conn.execute(text(POSTINGS_SQL), {"workflow": WORKFLOW_ID, "postings": postings})
        conn.execute(text("UPDATE actors SET actor_type = :type, config = CAST(:config AS jsonb) "
                          "WHERE actor_name = 'bench_scale'"), {"type": actor_type, "config": config})  # fmt: skip


def steps_per_second(engine: Engine) -> float:
    summary = WaveBatchProcessor(WORKFLOW_ID, engine=engine, chunk_size=CHUNK).run()
    assert summary.status == "completed", summary
    with engine.connect() as conn:
        errors = conn.execute(text("SELECT count(*) FROM conversation_outputs WHERE is_error AND workflow_run_id = :r"),
                              {"r": summary.workflow_run_id}).scalar_one()  # fmt: skip
    assert errors == 0, f"{errors} postings failed their call"
    return summary.completed / summary.elapsed_seconds


def direct_requests_per_second(urls: list[str], clients: int) -> float:
    """The baseline: the same requests from `clients` threads, alternating between the servers, no engine."""
    body = {"model": "m", "messages": [{"role": "user", "content": "Summarise a job"}]}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    with httpx.Client(limits=limits) as client:

        def ask(number: int) -> None:
            client.post(f"{urls[number % len(urls)]}/v1/chat/completions", json=body).raise_for_status()

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            list(pool.map(ask, range(POSTINGS)))
        return POSTINGS / (time.perf_counter() - started)


def processes_steps_per_second(engine: Engine, processes: int) -> float:
    """Completions per second of `processes` worker processes joining one run (the checkpoints' span)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM workflow_runs WHERE workflow_id = :w"), {"w": WORKFLOW_ID})
    env = {**os.environ, "TURING_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    command = [sys.executable, "-m", "turing_db.cli", "run", "--workflow", str(WORKFLOW_ID), "--join",
               "--chunk-size", str(CHUNK)]  # fmt: skip
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for _ in range(processes)]  # fmt: skip
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    with engine.connect() as conn:
        done, seconds = conn.execute(text(
            "SELECT count(*), extract(epoch FROM max(created_at) - min(created_at)) FROM posting_state_checkpoints "
            "WHERE state <> 'routed' AND workflow_run_id = (SELECT max(workflow_run_id) FROM workflow_runs "
            "WHERE workflow_id = :w)"), {"w": WORKFLOW_ID}).one()  # fmt: skip
    assert done == PROCESS_POSTINGS, done
    return float(done) / max(float(seconds), 1e-3)


def run(engine: Engine) -> list[Result]:
    with engine.begin() as conn:
        conn.execute(text(SETUP), {"workflow": WORKFLOW_ID})
    with loopback_servers(2) as urls:
        servers = ", ".join(f'{{"url": "{url}/v1", "max_concurrency": {PER_SERVER_CAP}}}' for url in urls)
        set_actor(engine, "openai", f'{{"base_url": [{servers}], "model": "m"}}', POSTINGS)
        before = asked(urls)
        rate = steps_per_second(engine)
        assert asked(urls) - before == POSTINGS
        direct = direct_requests_per_second(urls, 2 * PER_SERVER_CAP)
        # the cache: a first run fills it, the re-run is answered from it
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE actors SET config = config || '{\"cache\": true}' WHERE actor_name = 'bench_scale'"
                )
            )
        steps_per_second(engine)
        before = asked(urls)
        cached = steps_per_second(engine)
        assert asked(urls) == before, "the re-run asked the servers"
    set_actor(engine, "python", '{"callable": "bench.actors:instant"}', POSTINGS)
    instant = steps_per_second(engine)
    set_actor(engine, "python", '{"callable": "bench.actors:instant"}', PROCESS_POSTINGS)
    by_processes = {count: processes_steps_per_second(engine, count) for count in PROCESS_COUNTS}
    note = f"{POSTINGS} postings, 1 worker, 2 loopback servers {LATENCY * 1000:.0f} ms x {SLOTS} slots (ideal {IDEAL:.0f}/s)"
    results = [
        Result("scale.two_servers.requests_per_s", round(rate, 1), "requests/s", True, note + f", {PER_SERVER_CAP} per server"),
        Result("scale.two_servers.saturation_ratio", round(rate / IDEAL, 3), "x", True, "requests/s over the ideal 640 (goal >= 0.95)"),
        Result("scale.two_servers.direct_requests_per_s", round(direct, 1), "requests/s", True,
               f"baseline, same run: {2 * PER_SERVER_CAP} httpx threads straight to the two servers"),
        Result("scale.two_servers.ratio_vs_direct", round(rate / direct, 3), "x", True, "the engine over the direct baseline"),
        Result("scale.cached_rerun_steps_per_s", round(cached), "steps/s", True,
               f"a re-run of the {POSTINGS} postings, every answer from the response cache"),
        Result("scale.instant_actor_steps_per_s", round(instant), "steps/s", True,
               "baseline, same run: the same postings through a python actor that answers at once"),
        Result("scale.cached_ratio_vs_instant", round(cached / instant, 3), "x", True, "the cached re-run over the instant actor"),
    ]  # fmt: skip
    for count, per_second in by_processes.items():
        results.append(Result(f"scale.completions_per_s.{count}_processes", round(per_second), "steps/s", True,
                              f"{PROCESS_POSTINGS} postings, instant actor, {count} `turing run --join` processes "
                              f"(a claim of {CHUNK} and a completion per posting-step)"))  # fmt: skip
    results.append(Result("scale.processes_ratio.8_vs_1", round(by_processes[8] / by_processes[1], 3), "x", True,
                          "8 processes over 1, same run (this machine has 2 cores)"))  # fmt: skip
    return results
