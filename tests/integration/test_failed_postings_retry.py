"""A failed posting is retried by later runs up to max_failed_runs(), then left out until
retry_postings() (turing postings retry) puts it back."""

from sqlalchemy import text
from sqlalchemy.engine import Engine
from workflows import CommittedWorkflows, Step, add_postings

from turing_db import database
from turing_db.runner import WaveBatchProcessor

W = 7501


def test_a_failed_posting_is_retried_three_runs_then_left_out_until_retried(
    engine: Engine, workflows: CommittedWorkflows
) -> None:
    workflows.build(W, [Step("t_breaks", entry=True)], [("t_breaks", "*", None)])
    workflows.set_actor("test_python", "python", {"callable": "sample_actors:fail"})
    [posting] = add_postings(engine, 1)
    for run in range(1, 4):  # [ERROR] has no branch: the error handler, then the posting fails
        summary = WaveBatchProcessor(W, engine=engine).run()
        assert (summary.postings_in_run, summary.failed) == (1, 1), run
    with engine.connect() as conn:
        failed_runs, reason, where = conn.execute(
            text(
                "SELECT failed_runs, failure_reason, failed_conversation FROM postings WHERE posting_id = :p"
            ),
            {"p": posting},
        ).one()
    assert (failed_runs, where) == (3, "t_breaks") and reason
    assert WaveBatchProcessor(W, engine=engine).run().postings_in_run == 0  # left out
    assert database.posting_counts(engine)["failed"] == 1
    assert database.retry_postings(engine, conversation="t_other") == 0
    assert database.retry_postings(engine, conversation="t_breaks") == 1
    assert WaveBatchProcessor(W, engine=engine).run().postings_in_run == 1  # back in
