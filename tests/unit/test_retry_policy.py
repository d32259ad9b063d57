"""Which calls into the database retry while it is unreachable: a worker's repeated calls do, a start
and a last-ditch release do not."""

from turing_db import database

RETRIED = ("claim_chunk", "complete_chunk", "heartbeat", "release_claims", "stop_worker", "run_progress", "actor_admit", "actor_settle",
           "run_summary")  # fmt: skip
ONCE = (
    "start_run",
    "release_claims_once",
    "claim_chunk_once",
    "validate_workflow",
    "insert_postings",
    "health_facts",
)


def test_a_workers_calls_retry_and_a_start_does_not() -> None:
    assert [name for name in RETRIED if not hasattr(getattr(database, name), "__wrapped__")] == []
    assert [name for name in ONCE if hasattr(getattr(database, name), "__wrapped__")] == []
