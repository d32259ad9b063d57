"""Why waves matter, on a real model: one conversation of SmolLM2-135M over POSTINGS postings, run by
the engine against llama.cpp's server with one slot, then with SLOTS slots (the wave keeps them all
busy). `make bench-llm` runs it (it is not part of `make bench`: it takes a few minutes).

Figures: completion tokens per second and postings per minute for each, and their ratio
`llm.batching_ratio` (slots over one slot, measured back to back in the same run).
"""

from __future__ import annotations

import json
import os
import tempfile

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.results import Result
from turing_db import local_llm
from turing_db.runner import WaveBatchProcessor

WORKFLOW_ID = 9301
POSTINGS = 50
SLOTS = 4
MAX_TOKENS = 64

SETUP = """
INSERT INTO actors (actor_name, actor_type, config, max_concurrency, timeout_seconds)
VALUES ('bench_local', 'openai', CAST(:config AS jsonb), :cap, 120);
INSERT INTO workflows (workflow_id, workflow_name) VALUES (:workflow, 'local model benchmark');
INSERT INTO conversations (conversation_name, canonical_name, actor_id)
SELECT 'Summarise', 'bench_local_summary', actor_id FROM actors WHERE actor_name = 'bench_local';
INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order, is_entry_point)
SELECT :workflow, conversation_id, 1, true FROM conversations WHERE canonical_name = 'bench_local_summary';
INSERT INTO instructions (conversation_id, prompt_template)
SELECT conversation_id, 'Summarise this job posting in one sentence.

{job_title}: {job_description}' FROM conversations WHERE canonical_name = 'bench_local_summary';
INSERT INTO instruction_steps (instruction_id, branch_condition, next_conversation_id)
SELECT instruction_id, '*', NULL FROM instructions JOIN conversations USING (conversation_id)
 WHERE canonical_name = 'bench_local_summary';
INSERT INTO postings (job_title, job_description)
SELECT 'Job ' || i, 'Short description number ' || i || ': a role in a team, with duties and requirements.'
  FROM generate_series(1, :postings) AS i;
"""

CLEANUP = """
DELETE FROM workflow_runs WHERE workflow_id = :workflow;
DELETE FROM postings;
DELETE FROM workflows WHERE workflow_id = :workflow;
DELETE FROM instruction_steps WHERE instruction_id IN (SELECT instruction_id FROM instructions
    JOIN conversations USING (conversation_id) WHERE canonical_name = 'bench_local_summary');
DELETE FROM conversations WHERE canonical_name = 'bench_local_summary';
DELETE FROM actor_calls WHERE actor_id = (SELECT actor_id FROM actors WHERE actor_name = 'bench_local');
DELETE FROM actors WHERE actor_name = 'bench_local';
"""


def one_pass(engine: Engine, slots: int) -> tuple[float, float]:
    """(completion tokens per second, postings per minute) with a server of `slots` slots."""
    local_llm.stop()
    server = local_llm.start(slots)
    try:
        config = {"base_url": server.base_url, "model": local_llm.MODEL_NAME,
                  "params": {"max_tokens": MAX_TOKENS, "temperature": 0, "seed": 1, "ignore_eos": True}}  # fmt: skip
        with engine.begin() as conn:
            conn.execute(text(SETUP), {"config": json.dumps(config), "cap": slots + (slots + 1) // 2,
                                       "workflow": WORKFLOW_ID, "postings": POSTINGS})  # fmt: skip
        summary = WaveBatchProcessor(WORKFLOW_ID, engine=engine, chunk_size=POSTINGS).run()
        assert summary.completed == POSTINGS, summary
        with engine.connect() as conn:
            tokens = conn.execute(text("SELECT sum(completion_tokens) FROM actor_calls JOIN actors USING (actor_id) "
                                       "WHERE actor_name = 'bench_local'")).scalar_one()  # fmt: skip
        return tokens / summary.elapsed_seconds, POSTINGS * 60 / summary.elapsed_seconds
    finally:
        local_llm.stop()
        with engine.begin() as conn:
            conn.execute(text(CLEANUP), {"workflow": WORKFLOW_ID})


def run(engine: Engine) -> list[Result]:
    os.environ["TURING_LLM_DIR"] = tempfile.mkdtemp(prefix="turing-bench-llm-")  # not the project's server
    one_tps, one_ppm = one_pass(engine, 1)
    many_tps, many_ppm = one_pass(engine, SLOTS)
    note = f"{POSTINGS} postings of one conversation, {MAX_TOKENS} tokens each, SmolLM2-135M Q4_1"
    return [
        Result("llm.tokens_per_s.1_slot", round(one_tps, 1), "tokens/s", True, note + ", 1 slot"),
        Result(f"llm.tokens_per_s.{SLOTS}_slots", round(many_tps, 1), "tokens/s", True, note + f", {SLOTS} slots"),
        Result("llm.postings_per_min.1_slot", round(one_ppm, 1), "postings/min", True, "1 slot"),
        Result(f"llm.postings_per_min.{SLOTS}_slots", round(many_ppm, 1), "postings/min", True, f"{SLOTS} slots"),
        Result("llm.batching_ratio", round(many_tps / one_tps, 2), "x", True,
               f"{SLOTS} slots over 1, the same run: what a wave that keeps the slots busy gains"),
    ]  # fmt: skip
