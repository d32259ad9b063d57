"""Inference at scale against real loopback servers: calls spread over several servers of one actor,
each with its own breaker and cap; a fallback model by branch; the response cache (hits skip the
server, concurrent identical prompts make one call)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from commands import turing
from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

from bench.loopback_llm import Fault, LoopbackLLM
from turing_db import database
from turing_db.runner import WaveBatchProcessor

W = 7601
NO_RETRY_WAIT = {"max_attempts": 3, "base_seconds": 0.01, "cap_seconds": 0.02}

pytestmark = pytest.mark.usefixtures("fresh_gates")  # tests/conftest.py


@pytest.fixture
def servers() -> Iterator[tuple[LoopbackLLM, LoopbackLLM]]:
    with LoopbackLLM(latency=0.03, slots=16) as a, LoopbackLLM(latency=0.03, slots=16) as b:
        yield a, b


def rows(engine: Engine, query: str, **parameters: object) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(query), parameters)]


def one_step(workflows: CommittedWorkflows, base_url: object, template: str = "Work on {job_title}",
             **config: object) -> None:  # fmt: skip
    """Workflow W: one step on an openai actor at `base_url` (a URL or a list); every outcome ends."""
    workflows.build(W, [Step("t_ask", template=template, entry=True)],
                    [("t_ask", "*", None)] + [("t_ask", s, None) for s in ("[ERROR]", "[TIMEOUT]", "[FAILED]", "[CIRCUIT_OPEN]")])  # fmt: skip
    workflows.set_actor("test_python", "openai", {"base_url": base_url, "model": "m", **config}, timeout=5)


def dead_urls(count: int = 1) -> list[str]:
    """The base URLs of servers that were there and stopped (on distinct ports): connections are refused."""
    gone = [LoopbackLLM().start() for _ in range(count)]
    for server in gone:
        server.stop()
    return [server.openai_base_url for server in gone]


# ---- several servers per actor -------------------------------------------------------------------------


def test_calls_spread_over_the_servers_by_calls_in_flight(
    engine: Engine, workflows: CommittedWorkflows, servers: tuple[LoopbackLLM, LoopbackLLM]
) -> None:
    a, b = servers
    one_step(workflows, [a.openai_base_url, b.openai_base_url + "/"])
    add_postings(engine, 120)
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=120).run()
    assert (summary.status, summary.completed) == ("completed", 120)
    assert a.requests + b.requests == 120
    # the fewest in flight: with calls of equal length, neither server takes much more than half
    assert 40 <= a.requests <= 80 and 40 <= b.requests <= 80, (a.requests, b.requests)
    assert rows(engine, "SELECT count(*) FROM actor_permits") == [(0,)]


def test_each_server_has_its_own_cap(
    engine: Engine, workflows: CommittedWorkflows, servers: tuple[LoopbackLLM, LoopbackLLM]
) -> None:
    a, b = servers
    one_step(workflows, [{"url": a.openai_base_url, "max_concurrency": 2},
                         {"url": b.openai_base_url, "max_concurrency": 5}])  # fmt: skip
    add_postings(engine, 60)
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=60).run()
    assert (summary.status, summary.completed) == ("completed", 60)
    assert a.max_in_flight == 2 and b.max_in_flight == 5, (a.max_in_flight, b.max_in_flight)
    [(endpoints,)] = rows(engine, "SELECT endpoints FROM circuit_breakers WHERE actor_name = 'test_python'")
    assert [(e["endpoint"], e["max_concurrency"], e["state"]) for e in endpoints] == [
        (a.openai_base_url, 2, "closed"), (b.openai_base_url, 5, "closed")]  # fmt: skip


def test_a_dead_server_costs_no_posting_its_calls_go_to_the_other(
    engine: Engine, workflows: CommittedWorkflows, servers: tuple[LoopbackLLM, LoopbackLLM]
) -> None:
    _, b = servers
    [dead] = dead_urls()
    one_step(workflows, [dead, b.openai_base_url], retry=NO_RETRY_WAIT,
             breaker={"failure_threshold": 3, "reset_seconds": 600})  # fmt: skip
    add_postings(engine, 100)
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=100).run()
    assert (summary.status, summary.completed) == ("completed", 100)
    assert rows(engine, "SELECT is_error, count(*) FROM conversation_outputs GROUP BY is_error") == [
        (False, 100)
    ]
    assert b.requests == 100
    # the dead server's breaker is open, the other's and the actor's are closed
    [(state, endpoints)] = rows(
        engine, "SELECT state, endpoints FROM circuit_breakers WHERE actor_name = 'test_python'"
    )
    assert state == "closed"
    assert {e["endpoint"]: e["state"] for e in endpoints} == {dead: "open", b.openai_base_url: "closed"}
    refused = rows(engine, "SELECT count(*) FROM actor_calls WHERE error_kind = 'connection_error'")[0][0]
    assert 3 <= refused <= 3 + 16, refused  # its threshold, and at most the calls that were in flight
    assert rows(engine, "SELECT endpoint, to_state FROM circuit_breaker_events") == [(dead, "open")]


def test_the_actor_is_open_only_when_every_server_is(engine: Engine, workflows: CommittedWorkflows) -> None:
    first, second = dead_urls(2)
    one_step(workflows, [first, second], retry={"max_attempts": 1},
             breaker={"failure_threshold": 2, "reset_seconds": 600})  # fmt: skip
    add_postings(engine, 60)
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=60).run()
    assert summary.status == "completed"
    outcomes = dict(rows(engine, "SELECT outcome, count(*) FROM posting_state_checkpoints GROUP BY outcome"))
    assert outcomes.get("[CIRCUIT_OPEN]", 0) >= 60 - 2 * (2 + 16), outcomes
    events = rows(engine, "SELECT endpoint, to_state FROM circuit_breaker_events ORDER BY event_id")
    assert sorted(events[:2]) == sorted([(first, "open"), (second, "open")])
    assert events[2:] == [("", "open")]  # the actor's, once both of its servers are open
    assert rows(engine, "SELECT state FROM circuit_breakers WHERE actor_name = 'test_python'") == [("open",)]
    # reset by hand closes the actor and each server
    with engine.begin() as conn:
        assert conn.execute(text("SELECT reset_circuit_breaker('test_python')")).scalar_one() == "open"
    [(state, endpoints)] = rows(
        engine, "SELECT state, endpoints FROM circuit_breakers WHERE actor_name = 'test_python'"
    )
    assert (state, {e["state"] for e in endpoints}) == ("closed", {"closed"})


def test_a_server_that_comes_back_is_probed_and_closes(
    engine: Engine, workflows: CommittedWorkflows, servers: tuple[LoopbackLLM, LoopbackLLM]
) -> None:
    a, b = servers
    one_step(workflows, [a.openai_base_url, b.openai_base_url], retry=NO_RETRY_WAIT,
             breaker={"failure_threshold": 2, "reset_seconds": 0.5, "success_threshold": 1})  # fmt: skip
    a.set_fault(Fault.http(503))
    add_postings(engine, 40)
    assert WaveBatchProcessor(W, engine=engine, chunk_size=40).run().completed == 40
    assert rows(
        engine, "SELECT count(*) FROM circuit_breaker_events WHERE endpoint <> '' AND to_state = 'open'"
    ) == [(1,)]
    a.set_fault(None)
    a.reset_counters()
    with engine.begin() as conn:  # past reset_seconds: the next call to it is a probe
        conn.execute(text("UPDATE actor_gates SET retry_at = now() WHERE endpoint <> '' AND state = 'open'"))
    assert WaveBatchProcessor(W, engine=engine, chunk_size=40).run().completed == 40
    assert a.requests > 1
    assert rows(engine, "SELECT to_state FROM circuit_breaker_events WHERE endpoint <> '' ORDER BY event_id") == [
        ("open",), ("half_open",), ("closed",)]  # fmt: skip


# ---- a fallback model by branch ---------------------------------------------------------------------------


def test_a_fallback_branch_serves_the_postings_while_the_first_models_breaker_is_open(
    engine: Engine, workflows: CommittedWorkflows, servers: tuple[LoopbackLLM, LoopbackLLM]
) -> None:
    _, spare = servers
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO actors (actor_name, actor_type, config) VALUES ('test_fallback', 'openai', "
                          "jsonb_build_object('base_url', CAST(:url AS text), 'model', 'small'))"), {"url": spare.openai_base_url})  # fmt: skip
    workflows.build(W, [Step("t_ask", entry=True), Step("t_fallback", actor="test_fallback")],
                    [("t_ask", "*", None), ("t_ask", "[CIRCUIT_OPEN]", "t_fallback", 10), ("t_ask", "[ERROR]", "t_fallback", 10),
                     ("t_fallback", "*", None)])  # fmt: skip
    workflows.set_actor("test_python", "openai", {"base_url": dead_urls()[0], "model": "big", "retry": {"max_attempts": 1},
                                                  "breaker": {"failure_threshold": 2, "reset_seconds": 600}}, timeout=5)  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE conversations SET saves_stage = 'summary' WHERE canonical_name IN ('t_ask', 't_fallback')"
            )
        )
        valid = text("SELECT count(*) FROM validate_workflow(:w) WHERE severity <> 'ok'")
        assert conn.execute(valid, {"w": W}).scalar() == 0  # the fallback saves the stage t_ask saves
    ids = add_postings(engine, 50)
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=50).run()
    assert (summary.status, summary.completed, summary.failed) == ("completed", 50, 0)
    assert spare.requests == 50 and {body["model"] for body in spare.bodies} == {"small"}
    assert rows(engine, "SELECT count(*) FROM postings WHERE posting_id = ANY(:ids) AND summary LIKE 'answer to %'",
                ids=ids) == [(50,)]  # fmt: skip
    refused = dict(rows(engine, "SELECT outcome, count(*) FROM posting_state_checkpoints c "
                                "JOIN conversations USING (conversation_id) WHERE canonical_name = 't_ask' GROUP BY outcome"))  # fmt: skip
    assert refused.get("[CIRCUIT_OPEN]", 0) >= 50 - (2 + 16), refused


# ---- the response cache ------------------------------------------------------------------------------------


def test_cache_hits_skip_the_server_and_are_recorded_as_cached_calls(
    engine: Engine, workflows: CommittedWorkflows, servers: tuple[LoopbackLLM, LoopbackLLM]
) -> None:
    a, _ = servers
    one_step(workflows, a.openai_base_url, cache=True)
    add_postings(engine, 30)  # "Job 1" … "Job 30"
    assert WaveBatchProcessor(W, engine=engine, chunk_size=30).run().completed == 30
    assert a.requests == 30 and rows(engine, "SELECT count(*) FROM response_cache") == [(30,)]
    a.reset_counters()
    # a re-run, and duplicated postings (the same titles again: the same prompts), pay nothing
    assert WaveBatchProcessor(W, engine=engine, chunk_size=30).run().completed == 30
    add_postings(engine, 30)
    assert WaveBatchProcessor(W, engine=engine, chunk_size=60).run().completed == 60
    assert a.requests == 0
    calls = rows(engine, "SELECT cached, count(*), sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) "
                         "FROM actor_calls GROUP BY cached ORDER BY cached")  # fmt: skip
    assert calls[0][:2] == (False, 30) and calls[0][2] > 0 and calls[1] == (True, 90, 0)
    # the server's answers, given again
    assert rows(engine, "SELECT count(*) FROM conversation_outputs WHERE output LIKE 'answer to %'") == [
        (120,)
    ]
    # another model is another key: asked again, once per prompt
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE actors SET config = config || '{\"model\": \"other\"}' WHERE actor_name = 'test_python'"
            )
        )
    assert WaveBatchProcessor(W, engine=engine, chunk_size=60).run().completed == 60
    assert a.requests == 30 and rows(engine, "SELECT count(*) FROM response_cache") == [(60,)]


def test_concurrent_identical_prompts_make_one_call(engine: Engine, workflows: CommittedWorkflows) -> None:
    with LoopbackLLM(latency=0.5, slots=16) as slow:
        one_step(workflows, slow.openai_base_url, template="Summarise the market", cache=True)
        add_postings(engine, 16)
        summary = WaveBatchProcessor(W, engine=engine, chunk_size=16).run()
        assert (summary.status, summary.completed) == ("completed", 16)
        assert slow.requests == 1
    assert rows(engine, "SELECT cached, count(*) FROM actor_calls GROUP BY cached ORDER BY cached") == [
        (False, 1), (True, 15)]  # fmt: skip


def test_an_expired_answer_is_asked_again_and_clear_forgets_them(
    engine: Engine, workflows: CommittedWorkflows, servers: tuple[LoopbackLLM, LoopbackLLM]
) -> None:
    a, _ = servers
    one_step(workflows, a.openai_base_url, cache=True, cache_ttl_seconds=3600)
    add_postings(engine, 10)
    WaveBatchProcessor(W, engine=engine, chunk_size=10).run()
    assert rows(engine, "SELECT count(*) FROM response_cache WHERE expires_at BETWEEN now() + interval '59 minutes' "
                        "AND now() + interval '61 minutes'") == [(10,)]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text("UPDATE response_cache SET expires_at = now() WHERE cache_key IN "
                          "(SELECT cache_key FROM response_cache LIMIT 4)"))  # fmt: skip
        assert conn.execute(text("SELECT clear_response_cache(NULL, true)")).scalar_one() == 4
    a.reset_counters()
    WaveBatchProcessor(W, engine=engine, chunk_size=10).run()
    assert a.requests == 4
    with engine.begin() as conn:
        assert conn.execute(text("SELECT clear_response_cache('test_python')")).scalar_one() == 10
        with pytest.raises(Exception, match="no actor is named nobody"):
            conn.execute(text("SELECT clear_response_cache('nobody')"))


def test_turing_cache_and_turing_actors_show_and_clear_it(
    engine: Engine, workflows: CommittedWorkflows, servers: tuple[LoopbackLLM, LoopbackLLM],
    turing_env: dict[str, str],
) -> None:  # fmt: skip
    a, b = servers
    one_step(workflows, [a.openai_base_url, {"url": b.openai_base_url, "max_concurrency": 3}], cache=True)
    add_postings(engine, 12)
    WaveBatchProcessor(W, engine=engine, chunk_size=12).run()
    WaveBatchProcessor(W, engine=engine, chunk_size=12).run()  # answered from the cache
    status = turing(turing_env, "cache", "--json")
    assert status.returncode == 0, status.stderr
    [held] = json.loads(status.stdout)
    assert (held["actor_name"], held["answers"], held["expired"], held["cached_calls"]) == (
        "test_python",
        12,
        0,
        12,
    )
    assert "test_python" in turing(turing_env, "cache").stdout
    listed = turing(turing_env, "actors").stdout
    assert a.openai_base_url in listed and b.openai_base_url in listed and "0/3" in listed
    cleared = turing(turing_env, "cache", "clear", "--actor", "test_python")
    assert (cleared.returncode, cleared.stdout.strip()) == (0, "forgot 12 cached answer(s) of test_python")
    assert "empty" in turing(turing_env, "cache").stdout
    unknown = turing(turing_env, "cache", "clear", "--actor", "nobody")
    assert unknown.returncode != 0 and "no actor is named nobody" in unknown.stderr + unknown.stdout


def test_an_actor_whose_url_becomes_a_list_follows_its_servers_breakers(
    engine: Engine, workflows: CommittedWorkflows, servers: tuple[LoopbackLLM, LoopbackLLM]
) -> None:
    """A breaker left open from before the url became a list does not stay so: it follows the servers."""
    a, b = servers
    one_step(workflows, a.openai_base_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO actor_gates (actor_id, state, opened_at, retry_at) "
                          "SELECT actor_id, 'open', now() - interval '2 minutes', now() - interval '1 minute' "
                          "FROM actors WHERE actor_name = 'test_python'"))  # fmt: skip
    workflows.set_actor(
        "test_python", "openai", {"base_url": [a.openai_base_url, b.openai_base_url], "model": "m"}
    )
    add_postings(engine, 20)
    summary = WaveBatchProcessor(W, engine=engine, chunk_size=20).run()
    assert (summary.status, summary.completed) == ("completed", 20)
    assert a.requests + b.requests == 20
    assert rows(engine, "SELECT state FROM circuit_breakers WHERE actor_name = 'test_python'") == [
        ("closed",)
    ]
    assert rows(engine, "SELECT endpoint, from_state, to_state FROM circuit_breaker_events") == [
        ("", "open", "closed")
    ]


def test_the_cache_key_is_the_config_the_worker_calls_with(
    engine: Engine, workflows: CommittedWorkflows
) -> None:
    """A chunk that still calls the old model (the row changed meanwhile) stores its answer under the
    old model's key, not the new one's."""
    one_step(workflows, "http://127.0.0.1:9/v1", cache=True)
    with engine.begin() as conn:
        actor_id = conn.execute(
            text("SELECT actor_id FROM actors WHERE actor_name = 'test_python'")
        ).scalar_one()
        old = conn.execute(
            text("SELECT config FROM actors WHERE actor_id = :a"), {"a": actor_id}
        ).scalar_one()
        conn.execute(
            text('UPDATE actors SET config = config || \'{"model": "new"}\' WHERE actor_id = :a'),
            {"a": actor_id},
        )
    admission = database.actor_admit(engine, actor_id, "w", 0, None, "the prompt", old)
    assert admission.decision == "go"
    database.actor_settle(engine, admission.permit_id, actor_id, "ok", 10, None, "the old model's answer")
    new = {**old, "model": "new"}
    assert database.cached_answers(engine, actor_id, ["the prompt"], old) == {0: "the old model's answer"}
    assert database.cached_answers(engine, actor_id, ["the prompt"], new) == {}
    assert database.actor_admit(engine, actor_id, "w", 0, None, "the prompt", new).decision == "go"
    assert (
        database.actor_admit(engine, actor_id, "w", 0, None, "the prompt", old).answer
        == "the old model's answer"
    )
