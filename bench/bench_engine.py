"""Engine throughput: posting-steps per second through the whole engine, against a naive baseline.

10,000 postings go through a 3-step workflow whose actor returns at once, so what is measured is
claiming, rendering, branching, checkpointing and logging. Figures: steps/s with 1 and 4 workers, the
same work done the naive way (a new connection and a commit per posting-step, as the original system
did), the cost of completing one chunk of 500, run start-up, peak connections and peak memory.

The engine is also compared with a raw PL/pgSQL pipeline measured in the same run on the same cluster,
as issue #9 defines it: the same 10,000 postings x 3 steps, three writes per posting-step (an output
row, the posting's next step, an upserted checkpoint: three statements for each posting, in a loop),
one function call and one commit per wave of 1,000. The machine's speed varies by tens of percent from
day to day, so the ratio of the two (`engine.ratio_vs_raw_plpgsql`) is the figure to compare across
runs. A second raw figure does the same writes set-based (three statements per wave, as
complete_chunk() does): it is the ceiling for this schema-free work, not a pipeline anyone would write
per posting.
"""

from __future__ import annotations

import resource
import statistics
import time

import psycopg2
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from bench.results import Result
from turing_db import database
from turing_db.actors import Outcome
from turing_db.runner import WaveBatchProcessor

WORKFLOW_ID = 9101
POSTINGS = 10_000
STEPS = ("bench_one", "bench_two", "bench_three")
NAIVE_POSTINGS = 300
CHUNK = 500

SETUP = """
INSERT INTO actors (actor_name, actor_type, config) VALUES ('bench_instant', 'python', '{"callable": "bench.actors:instant"}')
ON CONFLICT (actor_name) DO NOTHING;
INSERT INTO workflows (workflow_id, workflow_name) VALUES (:workflow, 'engine benchmark');
INSERT INTO conversations (conversation_name, canonical_name, actor_id)
SELECT name, name, (SELECT actor_id FROM actors WHERE actor_name = 'bench_instant')
  FROM unnest(CAST(:steps AS text[])) AS name;
INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order, is_entry_point)
SELECT :workflow, c.conversation_id, s.position, s.position = 1
  FROM unnest(CAST(:steps AS text[])) WITH ORDINALITY AS s (name, position)
  JOIN conversations c ON c.canonical_name = s.name;
INSERT INTO instructions (conversation_id, prompt_template)
SELECT c.conversation_id, 'Step ' || s.name || ' of {job_title}: {job_description}'
  FROM unnest(CAST(:steps AS text[])) AS s (name) JOIN conversations c ON c.canonical_name = s.name;
INSERT INTO instruction_steps (instruction_id, branch_condition, next_conversation_id, branch_priority)
SELECT i.instruction_id, '*', next.conversation_id, 100
  FROM unnest(CAST(:steps AS text[])) WITH ORDINALITY AS s (name, position)
  JOIN conversations c ON c.canonical_name = s.name
  JOIN instructions i ON i.conversation_id = c.conversation_id
  LEFT JOIN unnest(CAST(:steps AS text[])) WITH ORDINALITY AS n (name, position) ON n.position = s.position + 1
  LEFT JOIN conversations next ON next.canonical_name = n.name;
INSERT INTO postings (job_title, job_description, source)
SELECT 'Benchmark job ' || i, 'A posting used to measure the engine, number ' || i || '.', 'bench'
  FROM generate_series(1, :postings) AS i;
ANALYZE postings;
"""

RAW_WAVE = 1_000

# The raw baseline's own scratch schema: nothing of the product is read or written.
RAW_SETUP = """
DROP SCHEMA IF EXISTS bench_raw CASCADE;
CREATE SCHEMA bench_raw;
CREATE TABLE bench_raw.work (posting_id bigint PRIMARY KEY, step int NOT NULL);
CREATE TABLE bench_raw.outputs (posting_id bigint NOT NULL, step int NOT NULL, output text NOT NULL);
CREATE TABLE bench_raw.checkpoints (posting_id bigint PRIMARY KEY, step int NOT NULL, updated_at timestamptz NOT NULL);
CREATE FUNCTION bench_raw.run_wave(p_step int, p_n int) RETURNS int
LANGUAGE plpgsql SET search_path = bench_raw, pg_catalog AS $$
DECLARE
    posting bigint;
    done int := 0;
BEGIN
    FOR posting IN SELECT posting_id FROM work WHERE step = p_step LIMIT p_n LOOP
        INSERT INTO outputs (posting_id, step, output) VALUES (posting, p_step, 'ok');
        UPDATE work SET step = p_step + 1 WHERE posting_id = posting;
        INSERT INTO checkpoints (posting_id, step, updated_at) VALUES (posting, p_step, now())
            ON CONFLICT (posting_id) DO UPDATE SET step = excluded.step, updated_at = excluded.updated_at;
        done := done + 1;
    END LOOP;
    RETURN done;
END
$$;
CREATE FUNCTION bench_raw.run_wave_set_based(p_step int, p_n int) RETURNS int
LANGUAGE plpgsql SET search_path = bench_raw, pg_catalog AS $$
DECLARE
    wave bigint[];
BEGIN
    SELECT array_agg(posting_id) INTO wave
      FROM (SELECT posting_id FROM work WHERE step = p_step LIMIT p_n) AS picked;
    IF wave IS NULL THEN
        RETURN 0;
    END IF;
    INSERT INTO outputs (posting_id, step, output)
    SELECT id, p_step, 'ok' FROM unnest(wave) AS id;
    UPDATE work SET step = p_step + 1 FROM unnest(wave) AS id WHERE work.posting_id = id;
    INSERT INTO checkpoints (posting_id, step, updated_at)
    SELECT id, p_step, now() FROM unnest(wave) AS id
        ON CONFLICT (posting_id) DO UPDATE SET step = excluded.step, updated_at = excluded.updated_at;
    RETURN cardinality(wave);
END
$$;
INSERT INTO bench_raw.work (posting_id, step) SELECT i, 1 FROM generate_series(1, :postings) AS i;
ANALYZE bench_raw.work, bench_raw.outputs, bench_raw.checkpoints;
"""

RESET = """
DELETE FROM actor_calls WHERE workflow_run_id IN (SELECT workflow_run_id FROM workflow_runs WHERE workflow_id = :workflow);
DELETE FROM workflow_runs WHERE workflow_id = :workflow;
"""


def setup(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(SETUP), {"workflow": WORKFLOW_ID, "steps": list(STEPS), "postings": POSTINGS})


def reset(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(RESET), {"workflow": WORKFLOW_ID})


class ConnectionCounter:
    """The most database connections this process had open at once while the block ran (pool events)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.peak = 0

    def _checked_out(self, *args: object) -> None:
        pool = self.engine.pool
        self.peak = max(self.peak, pool.checkedout() + pool.checkedin())  # type: ignore[attr-defined]

    def __enter__(self) -> ConnectionCounter:
        event.listen(self.engine, "checkout", self._checked_out)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "checkout", self._checked_out)


def timed_run(engine: Engine, workers: int) -> tuple[float, int, float, int]:
    """(steps/s, steps, start-up seconds, peak connections) of a whole run."""
    reset(engine)
    processor = WaveBatchProcessor(WORKFLOW_ID, workers=workers, chunk_size=CHUNK, engine=engine)
    started = time.perf_counter()
    startup = [0.0]
    original = database.claim_chunk

    def first_claim(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not startup[0]:
            startup[0] = time.perf_counter() - started
        return original(*args, **kwargs)

    database.claim_chunk = first_claim  # type: ignore[assignment]
    try:
        with ConnectionCounter(engine) as sampler:
            summary = processor.run()
    finally:
        database.claim_chunk = original  # type: ignore[assignment]
    assert summary.completed == POSTINGS, summary
    return summary.steps_executed / summary.elapsed_seconds, summary.steps_executed, startup[0], sampler.peak


def checkpoint_cost(engine: Engine) -> float:
    """Median milliseconds of complete_chunk() for chunks of 500 postings."""
    reset(engine)
    run = database.start_run(engine, WORKFLOW_ID, "bench-checkpoint").workflow_run_id
    timings = []
    for _ in range(8):
        chunk = database.claim_chunk(engine, run, "bench-checkpoint", CHUNK)
        assert chunk is not None
        started = time.perf_counter()
        database.complete_chunk(
            engine, "bench-checkpoint", chunk, [(claim, Outcome(output="ok")) for claim in chunk.claims]
        )
        timings.append((time.perf_counter() - started) * 1000)
    database.stop_worker(engine, run, "bench-checkpoint")
    return statistics.median(timings)


def naive_steps_per_second(engine: Engine) -> float:
    """The original system's way: for every posting-step a new connection, a query, a commit."""
    url = engine.url
    connect = {"dbname": url.database, "user": url.username, "host": url.query.get("host", url.host),
               "port": url.query.get("port", url.port), "password": url.password}  # fmt: skip
    connect = {key: value for key, value in connect.items() if value}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO workflow_runs (workflow_id, status, finished_at) VALUES (:w, 'completed', now())"),
                     {"w": WORKFLOW_ID})  # fmt: skip
        run = conn.execute(text("SELECT max(workflow_run_id) FROM workflow_runs")).scalar_one()
        postings = (
            conn.execute(
                text("SELECT posting_id FROM postings WHERE source = 'bench' ORDER BY posting_id LIMIT :n"),
                {"n": NAIVE_POSTINGS},
            )
            .scalars()
            .all()
        )
        steps = conn.execute(
            text("SELECT c.conversation_id, c.actor_id, i.prompt_template FROM conversations c "
                 "JOIN instructions i USING (conversation_id) WHERE c.canonical_name = ANY(:names) "
                 "ORDER BY array_position(CAST(:names AS text[]), c.canonical_name)"),
            {"names": list(STEPS)},
        ).all()  # fmt: skip
    started = time.perf_counter()
    count = 0
    for posting in postings:
        for conversation_id, actor_id, template in steps:
            with psycopg2.connect(**connect) as conn, conn.cursor() as cursor:
                cursor.execute(
                    "SELECT job_title, job_description FROM postings WHERE posting_id = %s", (posting,)
                )
                title, description = cursor.fetchone()
                prompt = template.replace("{job_title}", title).replace("{job_description}", description)
                output = "ok" if prompt else ""
                cursor.execute(
                    "INSERT INTO conversation_outputs (workflow_run_id, posting_id, conversation_id, output) VALUES (%s, %s, %s, %s)",
                    (run, posting, conversation_id, output),
                )
                cursor.execute(
                    "INSERT INTO actor_calls (workflow_run_id, posting_id, conversation_id, actor_id, status, latency_ms) "
                    "VALUES (%s, %s, %s, %s, 'success', 0)",
                    (run, posting, conversation_id, actor_id),
                )
                cursor.execute(
                    "INSERT INTO posting_state_checkpoints (workflow_run_id, posting_id, conversation_id, state) "
                    "VALUES (%s, %s, %s, 'completed')",
                    (run, posting, conversation_id),
                )
            conn.close()
            count += 1
    return count / (time.perf_counter() - started)


def raw_plpgsql_steps_per_second(engine: Engine, function: str = "run_wave") -> float:
    """bench_raw.<function>() once per wave of 1,000, autocommit, fsync on, on fresh tables."""
    with engine.begin() as conn:
        conn.execute(text(RAW_SETUP), {"postings": POSTINGS})
    waves = -(-POSTINGS // RAW_WAVE)
    count = 0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        call = text(f"SELECT bench_raw.{function}(:step, :n)")
        started = time.perf_counter()
        for step in range(1, len(STEPS) + 1):
            for _ in range(waves):
                count += conn.execute(call, {"step": step, "n": RAW_WAVE}).scalar_one()
        elapsed = time.perf_counter() - started
    assert count == POSTINGS * len(STEPS), count
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA bench_raw CASCADE"))
    return count / elapsed


def run(engine: Engine) -> list[Result]:
    setup(engine)
    raw = raw_plpgsql_steps_per_second(engine)
    raw_set_based = raw_plpgsql_steps_per_second(engine, "run_wave_set_based")
    one, steps, startup, connections_one = timed_run(engine, workers=1)
    four, _, _, connections_four = timed_run(engine, workers=4)
    checkpoint_ms = checkpoint_cost(engine)
    naive = naive_steps_per_second(engine)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    note = f"{POSTINGS} postings x {len(STEPS)} steps, instant actor, chunks of {CHUNK}"
    return [
        Result("engine.posting_steps_per_s.1worker", round(one), "steps/s", True, note),
        Result("engine.posting_steps_per_s.4workers", round(four), "steps/s", True, note),
        Result("engine.naive_steps_per_s", round(naive, 1), "steps/s", True,
               f"new connection and commit per posting-step, {NAIVE_POSTINGS * len(STEPS)} steps"),
        Result("engine.ratio_vs_naive", round(one / naive, 1), "x", True, "1 worker vs the naive baseline"),
        Result("engine.raw_plpgsql_steps_per_s", round(raw), "steps/s", True,
               f"raw PL/pgSQL baseline, same run and cluster: {POSTINGS} postings x {len(STEPS)} steps, "
               "3 writes per posting-step in a loop (output, next step, upserted checkpoint), "
               f"one call and commit per wave of {RAW_WAVE}"),
        Result("engine.ratio_vs_raw_plpgsql", round(one / raw, 3), "x", True,
               "1 worker vs the raw PL/pgSQL baseline (goal >= 0.55, floor 0.45)"),
        Result("engine.raw_set_based_steps_per_s", round(raw_set_based), "steps/s", True,
               f"the same writes set-based: 3 statements per wave of {RAW_WAVE} (a ceiling, not a pipeline)"),
        Result("engine.ratio_vs_raw_set_based", round(one / raw_set_based, 3), "x", True,
               "1 worker vs the set-based ceiling"),
        Result("engine.checkpoint_ms_per_500", round(checkpoint_ms, 1), "ms", False, "complete_chunk() of 500 results, median of 8"),
        Result("engine.run_startup_s", round(startup, 3), "s", False, f"validate + start_run routing {POSTINGS} postings, to the first claim"),
        Result("engine.peak_connections.1worker", connections_one, "connections", False, "open at once in this process (pool events)"),
        Result("engine.peak_connections.4workers", connections_four, "connections", False, "one process, 4 worker threads"),
        Result("engine.peak_memory_mb", round(peak_mb, 1), "MB", False, "max RSS of the benchmark process"),
    ]  # fmt: skip
