"""LLM actors in whole runs against a real loopback server: the breaker saves the calls of an outage,
the concurrency cap and the rate limit hold across worker processes, the API key reaches only the server."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

from bench.loopback_llm import Fault, LoopbackLLM
from turing_db.runner import WaveBatchProcessor

W = 7501
PROJECT_DIR = Path(__file__).resolve().parents[2]
TESTS_DIR = PROJECT_DIR / "tests"
CANARY_KEY = "sk-canary-6f0e1d2c3b4a"

pytestmark = pytest.mark.usefixtures("fresh_gates")  # tests/conftest.py


@pytest.fixture
def llm() -> Iterator[LoopbackLLM]:
    with LoopbackLLM(latency=0.02, slots=16) as server:
        yield server


def one_llm_step(workflows: CommittedWorkflows, llm: LoopbackLLM, **config: object) -> None:
    """Workflow W: one conversation on an openai actor pointed at the loopback server; every outcome ends."""
    workflows.build(
        W,
        [Step("t_ask", entry=True)],
        [("t_ask", "*", None), ("t_ask", "[ERROR]", None), ("t_ask", "[TIMEOUT]", None),
         ("t_ask", "[FAILED]", None), ("t_ask", "[CIRCUIT_OPEN]", None)],
    )  # fmt: skip
    workflows.set_actor(
        "test_python", "openai", {"base_url": llm.openai_base_url, "model": "m", **config}, timeout=5
    )


def rows(engine: Engine, query: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(query))]


def test_an_outage_costs_the_threshold_and_the_calls_in_flight_not_the_chunk(
    engine: Engine, workflows: CommittedWorkflows, llm: LoopbackLLM
) -> None:
    one_llm_step(workflows, llm, retry={"max_attempts": 1},
                 breaker={"failure_threshold": 3, "reset_seconds": 600})  # fmt: skip
    add_postings(engine, 200)
    llm.set_fault(Fault.http(503))  # the server is down for the whole run
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=200).run()
    assert summary.status == "completed"
    assert llm.requests <= 3 + 8, llm.requests  # the threshold plus at most a full set of calls in flight
    avoided = 1 - llm.requests / 200
    assert avoided >= 0.95
    outcomes = dict(rows(engine, "SELECT outcome, count(*) FROM posting_state_checkpoints GROUP BY outcome"))
    assert outcomes["[CIRCUIT_OPEN]"] == 200 - llm.requests and outcomes["[ERROR]"] == llm.requests
    # a refused call is no call: actor_calls holds the calls the server saw
    assert rows(engine, "SELECT count(*), min(http_status), max(http_status) FROM actor_calls") == [
        (llm.requests, 503, 503)
    ]
    assert rows(
        engine, "SELECT actor_name, state FROM circuit_breakers WHERE actor_name = 'test_python'"
    ) == [("test_python", "open")]


def test_retries_ride_out_a_short_outage_and_tokens_are_counted(
    engine: Engine, workflows: CommittedWorkflows, llm: LoopbackLLM
) -> None:
    one_llm_step(workflows, llm, retry={"max_attempts": 3, "base_seconds": 0.05, "cap_seconds": 0.2})
    add_postings(engine, 20)
    llm.script(Fault.http(503), Fault.rate_limited(0.1), Fault.http(502))
    summary = WaveBatchProcessor(W, engine=engine).run()
    assert (summary.status, summary.completed) == ("completed", 20)
    assert rows(engine, "SELECT is_error, count(*) FROM conversation_outputs GROUP BY is_error") == [
        (False, 20)
    ]
    assert llm.requests == 23
    calls = rows(
        engine,
        "SELECT status, count(*), sum(prompt_tokens) > 0 FROM actor_calls GROUP BY status ORDER BY status",
    )
    assert calls[0][:2] == ("error", 3) and calls[1] == ("success", 20, True)


def test_every_permit_is_back_when_the_run_ends(
    engine: Engine, workflows: CommittedWorkflows, llm: LoopbackLLM
) -> None:
    """A success's permit goes back with its thread's next admission (one round trip for both) or when
    the thread ends: none is left to wait out its lease, which would hold a slot of the cap meanwhile."""
    one_llm_step(workflows, llm)
    with engine.begin() as conn:
        conn.execute(text("UPDATE actors SET max_concurrency = 4 WHERE actor_name = 'test_python'"))
    add_postings(engine, 60)
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=20).run()
    assert (summary.status, summary.completed) == ("completed", 60)
    assert rows(engine, "SELECT count(*) FROM actor_permits") == [(0,)]
    assert rows(engine, "SELECT calls_in_flight FROM circuit_breakers WHERE actor_name = 'test_python'") == [
        (0,)
    ]
    assert llm.max_in_flight <= 4


def run_workers(env: dict[str, str], count: int, while_running: Callable[[], None] | None = None) -> None:
    workers = [
        subprocess.Popen([sys.executable, "-m", "turing_db.cli", "run", "--workflow", str(W), "--join",
                          "--chunk-size", "10"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]  # fmt: skip
    while while_running is not None and any(worker.poll() is None for worker in workers):
        while_running()
        time.sleep(0.05)
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, out + err
        assert CANARY_KEY not in out + err


@pytest.mark.slow
def test_the_cap_and_the_rate_limit_hold_across_two_worker_processes_and_the_key_goes_only_to_the_server(
    engine: Engine, workflows: CommittedWorkflows, turing_env: dict[str, str]
) -> None:
    with LoopbackLLM(latency=0.05, slots=16) as llm:
        # the cap alone would allow 3 / 0.05 s = 60 requests a second; the limit allows 10 (a bucket of 10)
        one_llm_step(
            workflows, llm, api_key_env="TURING_TEST_API_KEY", rate_limit={"requests_per_minute": 600}
        )
        with (
            engine.begin() as conn
        ):  # each process runs 3 actor threads: 6 calls at once without the shared cap
            conn.execute(text("UPDATE actors SET max_concurrency = 3 WHERE actor_name = 'test_python'"))
        add_postings(engine, 40)
        env = {**turing_env, "PYTHONPATH": str(TESTS_DIR), "TURING_TEST_API_KEY": CANARY_KEY}
        seen: list[str] = []  # what the database and `ps` show of the workers while they run

        def look() -> None:
            seen.extend(str(query) for (query,) in rows(engine, "SELECT query FROM pg_stat_activity"))
            seen.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout)

        run_workers(env, 2, look)
        assert len(seen) > 10 and not [text for text in seen if CANARY_KEY in text]
        assert llm.requests == 40
        assert llm.max_in_flight == 3, llm.max_in_flight
        stamps = sorted(llm.timestamps)
        per_second = max(sum(1 for s in stamps if start <= s < start + 1) for start in stamps)
        assert per_second <= 10 + 10 + 1, per_second  # the bucket plus one second's refill
        assert stamps[-1] - stamps[0] >= (40 - 10) / 10 - 0.3  # what is over the bucket came at 10 a second
        assert set(llm.authorizations) == {f"Bearer {CANARY_KEY}"}
    every_table = [name for (name,) in rows(engine, "SELECT quote_ident(tablename) FROM pg_tables "
                                                    "WHERE schemaname = 'public'")]  # fmt: skip
    assert len(every_table) > 15
    for table in every_table:  # every row of every table, error messages and alerts included
        stored = rows(engine, f"SELECT string_agg(t::text, ' ') FROM public.{table} AS t")[0][0] or ""  # noqa: S608
        assert CANARY_KEY not in stored, table
    for command in (["actors", "--json"], ["status", "--json"], ["health", "--json"]):
        shown = subprocess.run(
            [sys.executable, "-m", "turing_db.cli", *command], env=env, capture_output=True, text=True
        )
        assert shown.returncode == 0 and CANARY_KEY not in shown.stdout + shown.stderr, command


def test_client_errors_are_not_retried_and_never_open_the_breaker(
    engine: Engine, workflows: CommittedWorkflows, llm: LoopbackLLM
) -> None:
    one_llm_step(workflows, llm, breaker={"failure_threshold": 2})
    add_postings(engine, 30)
    llm.set_fault(Fault.model_not_found())
    summary = WaveBatchProcessor(W, engine=engine).run()
    assert summary.status == "completed"
    assert llm.requests == 30  # one call each: a 404 is not retried, and the breaker stayed closed
    assert rows(engine, "SELECT error_kind, http_status, count(*) FROM actor_calls GROUP BY 1, 2") == [
        ("model_not_found", 404, 30)
    ]
    assert rows(engine, "SELECT state FROM circuit_breakers WHERE actor_name = 'test_python'") == [
        ("closed",)
    ]


def test_on_open_wait_holds_the_postings_until_a_probe_succeeds(
    engine: Engine, workflows: CommittedWorkflows, llm: LoopbackLLM
) -> None:
    breaker = {"failure_threshold": 2, "reset_seconds": 1, "success_threshold": 1, "on_open": "wait"}
    one_llm_step(workflows, llm, retry={"max_attempts": 3, "base_seconds": 0.01}, breaker=breaker)
    add_postings(engine, 10)
    llm.script(Fault.http(500), Fault.http(500))  # two failures open it; the server is fine afterwards
    summary = WaveBatchProcessor(W, engine=engine).run()
    assert (summary.status, summary.completed) == ("completed", 10)
    assert rows(engine, "SELECT count(*) FROM conversation_outputs WHERE is_error") == [(0,)]
    with engine.connect() as conn:
        changes = conn.execute(
            text("SELECT from_state, to_state FROM circuit_breaker_events ORDER BY event_id")
        ).all()
    assert [tuple(change) for change in changes] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


def test_an_ollama_chat_with_a_json_schema_counts_tokens_and_turing_actors_shows_them(
    engine: Engine, workflows: CommittedWorkflows, llm: LoopbackLLM, turing_env: dict[str, str]
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
              "required": ["answer", "score"]}  # fmt: skip
    workflows.build(W, [Step("t_ask", entry=True)], [("t_ask", "*", None), ("t_ask", "[ERROR]", None),
                                                      ("t_ask", "[FAILED]", None)])  # fmt: skip
    workflows.set_actor("test_python", "ollama", {"url": llm.url, "model": "gemma3:4b", "api": "chat",
                                                  "format": schema, "system": "Answer in JSON."})  # fmt: skip
    add_postings(engine, 5)
    summary = WaveBatchProcessor(W, engine=engine).run()
    assert summary.completed == 5
    outputs = [json.loads(output) for (output,) in rows(engine, "SELECT output FROM conversation_outputs")]
    assert all(set(output) == {"answer", "score"} for output in outputs)
    assert llm.paths == {"POST /api/chat": 5}
    assert all(body["format"] == schema and body["messages"][0]["role"] == "system" for body in llm.bodies)
    shown = subprocess.run([sys.executable, "-m", "turing_db.cli", "actors", "--json"], env=turing_env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    actor = next(a for a in json.loads(shown.stdout) if a["actor_name"] == "test_python")
    assert (actor["actor_type"], actor["model"], actor["state"], actor["calls"]) == (
        "ollama",
        "gemma3:4b",
        "closed",
        5,
    )
    assert actor["prompt_tokens"] > 0 and actor["completion_tokens"] > 0
    table = subprocess.run([sys.executable, "-m", "turing_db.cli", "actors"], env={**turing_env, "COLUMNS": "250"},
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert table.returncode == 0 and "gemma3:4b" in table.stdout and "closed" in table.stdout
    reset = subprocess.run([sys.executable, "-m", "turing_db.cli", "actors", "reset-breaker", "test_python"],
                           env=turing_env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert reset.returncode == 0 and "closed already" in reset.stdout


def test_a_retry_after_beyond_the_cap_defers_the_posting_instead_of_holding_a_slot(
    engine: Engine, workflows: CommittedWorkflows, llm: LoopbackLLM
) -> None:
    one_llm_step(workflows, llm, retry={"max_attempts": 3, "base_seconds": 0.01, "cap_seconds": 0.5})
    add_postings(engine, 10)
    llm.script(Fault.rate_limited(2))  # the first request: come back in 2 s
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=10).run()
    assert (summary.status, summary.completed, summary.steps_executed) == ("completed", 10, 10)
    assert llm.requests == 11
    calls = rows(
        engine, "SELECT posting_id, status, error_kind, created_at FROM actor_calls ORDER BY actor_call_id"
    )
    [(deferred, _, kind, asked)] = [call for call in calls if call[1] == "error"]
    assert kind == "rate_limited"
    answered = [call[3] for call in calls if call[0] == deferred and call[1] == "success"]
    others = [call[3] for call in calls if call[0] != deferred]
    assert len(answered) == 1 and (answered[0] - asked).total_seconds() >= 2
    assert max(others) < answered[0] and (max(others) - asked).total_seconds() < 1.5  # nobody waited for it
    assert rows(engine, "SELECT count(*) FROM posting_work WHERE not_before IS NOT NULL") == [(1,)]


def open_the_breaker(engine: Engine) -> None:
    """Settle one retryable failure: with failure_threshold 1 the breaker is open for reset_seconds."""
    from turing_db import database

    with engine.connect() as conn:
        actor_id = conn.execute(
            text("SELECT actor_id FROM actors WHERE actor_name = 'test_python'")
        ).scalar_one()
    admission = database.actor_admit(engine, actor_id, "test", 0)
    assert admission.permit_id is not None
    assert database.actor_settle(engine, admission.permit_id, actor_id, "retryable", None) == (
        "open",
        "closed",
    )


PROBING = {"failure_threshold": 1, "reset_seconds": 1, "success_threshold": 1, "half_open_probes": 1,
           "on_open": "wait"}  # fmt: skip


def start_joined_worker(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "turing_db.cli", "run", "--workflow", str(W), "--join"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


@pytest.mark.slow
def test_two_worker_processes_send_exactly_one_probe_while_half_open(
    engine: Engine, workflows: CommittedWorkflows, turing_env: dict[str, str]
) -> None:
    with LoopbackLLM(latency=0.5, slots=16) as llm:
        one_llm_step(workflows, llm, breaker=PROBING)
        add_postings(engine, 20)
        open_the_breaker(engine)
        env = {**turing_env, "PYTHONPATH": str(TESTS_DIR)}
        workers = [start_joined_worker(env) for _ in range(2)]
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, out + err
        arrivals = sorted(llm.timestamps)
        assert len(arrivals) == 20
        # the probe went alone: nothing else reached the server until it had answered (0.5 s)
        assert arrivals[1] - arrivals[0] >= 0.45, arrivals[:3]
        assert llm.max_in_flight > 1  # and once it closed, both processes' calls went at once


@pytest.mark.slow
def test_a_probe_whose_worker_is_killed_frees_its_slot_when_its_lease_ends(
    engine: Engine, workflows: CommittedWorkflows, turing_env: dict[str, str]
) -> None:
    with LoopbackLLM(latency=0.01, slots=16) as llm:
        one_llm_step(workflows, llm, breaker=PROBING)
        workflows.set_actor(
            "test_python",
            "openai",
            {"base_url": llm.openai_base_url, "model": "m", "breaker": PROBING},
            timeout=1,
        )  # a permit's lease: 6 s
        add_postings(engine, 10)
        open_the_breaker(engine)
        llm.script(Fault.hang())  # the first probe never gets an answer
        env = {**turing_env, "PYTHONPATH": str(TESTS_DIR)}
        prober = start_joined_worker(env)
        deadline = time.monotonic() + 30
        while llm.requests == 0:
            assert time.monotonic() < deadline and prober.poll() is None, "no probe was sent"
            time.sleep(0.02)
        prober.kill()  # kill -9 while its probe is in flight: its permit is never settled
        prober.communicate()
        killed_at = time.monotonic()
        survivor = start_joined_worker(env)
        out, err = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, out + err
        arrivals = sorted(llm.timestamps)
        assert len(arrivals) == 11  # the lost probe, then every posting (the dead one's claims came back)
        assert arrivals[1] - killed_at >= 4, "a probe went out before the dead probe's lease ended"
    assert rows(engine, "SELECT count(*) FROM conversation_outputs WHERE NOT is_error") == [(10,)]


def readme_sql(containing: str) -> str:
    """The README's SQL block that contains `containing`."""
    blocks = (PROJECT_DIR / "README.md").read_text().split("```sql\n")[1:]
    [block] = [block.split("```")[0] for block in blocks if containing in block]
    return block


def answer_like_a_model(prompt: str, model: str, request: dict) -> str:
    if prompt.startswith("Does the summary"):
        return "PASS"
    if prompt.startswith("Score from 0 to 100"):
        return "72"
    return "A role with clear duties and requirements."


def test_workflow_3001_runs_on_an_openai_server_by_the_readmes_sql_and_goes_back_offline(
    engine: Engine, workflows: CommittedWorkflows, monkeypatch: pytest.MonkeyPatch
) -> None:
    from turing_db import postings

    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)  # the README's api_key_env
    with LoopbackLLM(latency=0.005, slots=16, responder=answer_like_a_model) as llm:
        to_server = readme_sql("actor_type = 'openai'").replace(
            "http://127.0.0.1:8000/v1", llm.openai_base_url
        )
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(to_server)
                assert (
                    conn.execute(
                        text("SELECT count(*) FROM validate_workflow(3001) WHERE severity = 'error'")
                    ).scalar_one()
                    == 0
                )
            postings.load_demo(engine, count=20)
            summary = WaveBatchProcessor(3001, engine=engine).run()
            assert (summary.status, summary.completed, summary.failed) == ("completed", 20, 0)
            assert rows(engine, "SELECT count(*) FROM postings WHERE summary = 'A role with clear duties and requirements.' "
                                "AND score = 72") == [(20,)]  # fmt: skip
            assert llm.requests == 60 and set(llm.authorizations) == {f"Bearer {CANARY_KEY}"}
        finally:
            with engine.begin() as conn:
                conn.exec_driver_sql(readme_sql("actor_type = 'python'"))
    with engine.connect() as conn:
        back = dict(conn.execute(text("SELECT actor_name, config ->> 'callable' FROM actors WHERE actor_name IN "
                                      "('offline_summarizer', 'offline_grader', 'offline_scorer')")).all())  # fmt: skip
        assert (
            conn.execute(
                text("SELECT count(*) FROM validate_workflow(3001) WHERE severity = 'error'")
            ).scalar_one()
            == 0
        )
    assert back == {"offline_summarizer": "turing_db.reference.offline:summarize",
                    "offline_grader": "turing_db.reference.offline:grade_summary",
                    "offline_scorer": "turing_db.reference.offline:score_posting"}  # fmt: skip
