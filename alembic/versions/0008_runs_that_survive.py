"""runs that survive: a worker is alive while its liveness session holds an advisory lock, so a run
whose workers died is taken over by a plain start at once (their claims return without waiting for the
lease) while live workers still refuse a second start; a worker that was taken over claims nothing
more; locks are taken claim rows first, then workers, everywhere; a shell actor's config.env is
checked (names passed through to the command, never a secret's); a reclaimed posting is a suspect,
claimed alone after the rest of its wave, and a result resets its reclaim count; a posting failed
in max_failed_runs() runs is left out until retry_postings()

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = """
-- a worker that holds worker_lock() is judged by it; older workers keep the heartbeat rule
ALTER TABLE run_workers ADD COLUMN holds_lock boolean NOT NULL DEFAULT false;
-- a posting failed in max_failed_runs() runs is left out until retry_postings() puts it back
ALTER TABLE postings
    ADD COLUMN failed_runs integer NOT NULL DEFAULT 0 CHECK (failed_runs >= 0),
    ADD COLUMN failure_reason text,
    ADD COLUMN failed_conversation text;
DROP FUNCTION public.posting_counts();  -- it gains a column: failed
-- start_run() gains p_holds_lock (callers of the previous version pass five arguments and still work)
DROP FUNCTION public.start_run(integer, text, boolean, bigint, integer);
"""

DOWNGRADE = """
DROP FUNCTION public.start_run(integer, text, boolean, bigint, integer, boolean);
DROP FUNCTION public.worker_state(bigint, text);
"""

DOWNGRADE_AFTER = """
DROP FUNCTION public.worker_is_live(public.run_workers, integer);
DROP FUNCTION public.worker_alive(text);
DROP FUNCTION public.worker_lock(text);
DROP FUNCTION public.max_failed_runs();
ALTER TABLE run_workers DROP COLUMN holds_lock;
ALTER TABLE postings DROP COLUMN failed_runs, DROP COLUMN failure_reason, DROP COLUMN failed_conversation;
"""


def upgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, UPGRADE)
    # INSTALL-BEGIN
    install(
        connection,
        "0702_function_worker_lock.sql",
        "d3af8867fdddff894c945c71ccc1da529859109055f6d599e035fcec96eb1363",
    )
    install(
        connection,
        "0703_function_worker_alive.sql",
        "1b91e90cf2be79e3800e8cb981ce2d6270e60dd2a6f55dde3f8348f3edcefc69",
    )
    install(
        connection,
        "0704_function_worker_is_live.sql",
        "905f61a9016448b71d91334a26c6f2bcaff2d7157f1623f25d3a97b164309da8",
    )
    install(
        connection,
        "0700_function_start_run.sql",
        "667de9f0fe00b347ea062e32e82d301b0a4214e9f2b974653d491e0d520a62f3",
    )
    install(
        connection,
        "0710_function_sweep_expired_claims.sql",
        "66abc68262c073e452b4a623e18b161cc898b2433dbaffe8b54cd91378ea1efc",
    )
    install(
        connection,
        "0720_function_claim_chunk_v2.sql",
        "55e7aaaec6ccc6e1be2e7535f75fce02989c6f283c3dad7237060724eae9de1c",
    )
    install(
        connection,
        "0740_function_heartbeat.sql",
        "a3cc874968f8ac9673c9c3be6657f840a55166305b7d6631a345ab9c81845b44",
    )
    install(
        connection,
        "0775_function_worker_state.sql",
        "56e76ac1f0b481630e2b6acd86736698cb3698f9802272b5ba9f9d8626d7a8a0",
    )
    install(
        connection,
        "0340_function_workflow_check_actors.sql",
        "0e8fca6c89d5659bdfe823f11c0e2def52d473b6419723a57470d7b198832ec7",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "60565bc577991861a2c075272f3f2430802a038fe6a2ff55212435c3f2454b00",
    )
    install(
        connection,
        "0025_function_max_failed_runs.sql",
        "f31f4e4a9a37191b1d8641a40435a4e12b3fef835c02ebd71228364ac48dbff1",
    )
    install(
        connection,
        "0040_function_retry_postings.sql",
        "03c8659992b9a46eb1da4c18612ab30e9d5eaa51e1f50e7effa2d9bc81204eb8",
    )
    install(
        connection,
        "0185_function_posting_stage_expressions.sql",
        "77d737fd558b1376c8d94bdb34e5a00a18c1ac1b060278eb26122c4c5fea0b6c",
    )
    install(
        connection,
        "0195_function_posting_counts.sql",
        "2e4ac718a81ebd7c4fa1b21b875d9aebb25c49af13df6fcb91d9b9b30466e097",
    )
    install(
        connection,
        "0760_function_stop_worker.sql",
        "b87482098dc1b27893acc98870cefc82b077b170314fc6f7d16b546353fccc9c",
    )
    # INSTALL-END


def downgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, DOWNGRADE)
    # the versions migrations 0004, 0005, 0006 and 0007 installed
    install(
        connection,
        "0700_function_start_run.sql",
        "e11194ad25c57cc8c5c3ea600cfa2f90560700aceadfb3c4a9a68b28613fbe95",
    )
    install(
        connection,
        "0710_function_sweep_expired_claims.sql",
        "3aaebf5eb790a99281986333160b172a5575a5b59fae7ed4baa4e0d2ba831755",
    )
    install(
        connection,
        "0720_function_claim_chunk_v2.sql",
        "b1032990dbc6d8e835682911e32eccd3dc3e8b61935be2a74d4e37bce64e7ebc",
    )
    install(
        connection,
        "0740_function_heartbeat.sql",
        "4bce18a07710d1a82d7b33a37cd05a6206330e33bb3d9c8bd671a7174d7b09bb",
    )
    install(
        connection,
        "0340_function_workflow_check_actors.sql",
        "bb1ef17dddc32184ab3f74bb9ed3975a9398c8a65bd04cdab41afeb3d9052004",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "cb96464254452aa4fa8f642c94b3c87c0eb5fa5b72b6276d201bd3f9e96bf498",
    )
    execute_script(
        connection,
        "DROP FUNCTION public.posting_counts(); DROP FUNCTION public.retry_postings(bigint, text);",
    )
    install(
        connection,
        "0185_function_posting_stage_expressions.sql",
        "f7acd8db3ac1cfbb950d48884a084c0d57f6055898b4d28397b05088e8069955",
    )
    install(
        connection,
        "0195_function_posting_counts.sql",
        "f4189fc6430b4cb5e41752053e7d19e3b8f65dcef253ed9651f2196a2324abf5",
    )
    install(
        connection,
        "0760_function_stop_worker.sql",
        "fe3c24f39328357fd50966b819651d55f303d67c1f37c1dfac5421284032be54",
    )
    execute_script(connection, DOWNGRADE_AFTER)
