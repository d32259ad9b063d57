"""run workflows in waves: a work queue with claims, leases and checkpoints, so that many workers share
a run, a dead worker's postings return to the pool, and a crashed run resumes where it stopped

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE workflow_runs
    ADD COLUMN lease_seconds integer NOT NULL DEFAULT 300 CHECK (lease_seconds > 0),
    ADD COLUMN max_reclaims  integer NOT NULL DEFAULT 3 CHECK (max_reclaims >= 0),
    ADD COLUMN posting_limit integer CHECK (posting_limit > 0);

-- the workers of a run, and when each was last seen alive
CREATE TABLE run_workers (
    workflow_run_id bigint      NOT NULL REFERENCES workflow_runs (workflow_run_id) ON DELETE CASCADE,
    worker_id       text        NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    heartbeat_at    timestamptz NOT NULL DEFAULT now(),
    stopped_at      timestamptz,
    CONSTRAINT run_workers_pkey PRIMARY KEY (workflow_run_id, worker_id)
);

-- one row per posting of a run: where it waits, who holds it, how often it visited each conversation
CREATE TABLE posting_work (
    workflow_run_id  bigint      NOT NULL REFERENCES workflow_runs (workflow_run_id) ON DELETE CASCADE,
    posting_id       bigint      NOT NULL REFERENCES postings (posting_id) ON DELETE CASCADE,
    conversation_id  integer     REFERENCES conversations (conversation_id),
    status           text        NOT NULL DEFAULT 'waiting'
                                 CHECK (status IN ('waiting', 'claimed', 'done', 'failed', 'quarantined')),
    visits           jsonb       NOT NULL DEFAULT '{}',
    attempt          integer     NOT NULL DEFAULT 0,
    claim_token      uuid,
    claimed_by       text,
    lease_expires_at timestamptz,
    reclaims         integer     NOT NULL DEFAULT 0,
    in_error_handler boolean     NOT NULL DEFAULT false,
    last_outcome     text,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workflow_run_id, posting_id),
    CHECK ((status = 'claimed') = (claim_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK ((status IN ('waiting', 'claimed')) = (conversation_id IS NOT NULL))
);
CREATE INDEX posting_work_waiting_idx ON posting_work (workflow_run_id, conversation_id, posting_id)
    WHERE status = 'waiting';
CREATE INDEX posting_work_claimed_idx ON posting_work (lease_expires_at) WHERE status = 'claimed';
CREATE INDEX posting_work_posting_idx ON posting_work (posting_id);

-- complete_chunk() writes these logs 500 rows at a time, for claims it has just verified; checking
-- their keys row by row cost half of each completion (54 -> 36 ms per 500, measured). Outputs and
-- calls keep no key to conversations, runs or postings (delete_log_rows() does what deleting a run
-- or posting did); checkpoints keep theirs to runs and postings, calls theirs to actors.
ALTER TABLE conversation_outputs
    DROP CONSTRAINT conversation_outputs_conversation_id_fkey,
    DROP CONSTRAINT conversation_outputs_workflow_run_id_fkey,
    DROP CONSTRAINT conversation_outputs_posting_id_fkey;
ALTER TABLE actor_calls
    DROP CONSTRAINT actor_calls_conversation_id_fkey,
    DROP CONSTRAINT actor_calls_workflow_run_id_fkey,
    DROP CONSTRAINT actor_calls_posting_id_fkey;
ALTER TABLE posting_state_checkpoints
    DROP CONSTRAINT posting_state_checkpoints_conversation_id_fkey,
    DROP CONSTRAINT posting_state_checkpoints_next_conversation_id_fkey;

ALTER TABLE posting_state_checkpoints
    ADD COLUMN note text,
    DROP CONSTRAINT posting_state_checkpoints_state_check,
    ADD CONSTRAINT posting_state_checkpoints_state_check
        CHECK (state IN ('routed', 'completed', 'failed', 'ended', 'quarantined', 'reclaimed', 'released'));
"""

LOG_TRIGGERS = """
CREATE TRIGGER workflow_runs_delete_log_rows AFTER DELETE ON workflow_runs
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION delete_log_rows();
CREATE TRIGGER postings_delete_log_rows AFTER DELETE ON postings
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION delete_log_rows();
"""

SCHEDULE_SWEEP = """
SELECT cron.schedule('sweep-expired-claims', '* * * * *', 'SELECT public.sweep_expired_claims()');
"""

DROP_FUNCTIONS = """
DROP FUNCTION public.delete_log_rows();
DROP FUNCTION public.run_summary(bigint);
DROP FUNCTION public.run_progress(bigint);
DROP FUNCTION public.stop_worker(bigint, text);
DROP FUNCTION public.release_claims(bigint, text, uuid[]);
DROP FUNCTION public.heartbeat(bigint, text, uuid[]);
DROP FUNCTION public.complete_chunk(bigint, text, jsonb);
DROP FUNCTION public.claim_chunk(bigint, text, integer);
DROP FUNCTION public.sweep_expired_claims(bigint);
DROP FUNCTION public.start_run(integer, text, boolean, bigint, integer);
DROP FUNCTION public.first_matching_branch(integer, text, text);
DROP FUNCTION public.branch_matches(text, text, text);
DROP FUNCTION public.render_prompts(text, bigint[]);
"""

DROP_LOG_TRIGGERS = """
DROP TRIGGER workflow_runs_delete_log_rows ON workflow_runs;
DROP TRIGGER postings_delete_log_rows ON postings;
"""

DOWNGRADE = """
SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'sweep-expired-claims';
DROP TABLE posting_work, run_workers;
DELETE FROM posting_state_checkpoints WHERE state IN ('reclaimed', 'released');
ALTER TABLE posting_state_checkpoints
    DROP COLUMN note,
    DROP CONSTRAINT posting_state_checkpoints_state_check,
    ADD CONSTRAINT posting_state_checkpoints_state_check
        CHECK (state IN ('routed', 'completed', 'failed', 'ended', 'quarantined'));
ALTER TABLE workflow_runs DROP COLUMN lease_seconds, DROP COLUMN max_reclaims, DROP COLUMN posting_limit;
ALTER TABLE conversation_outputs
    ADD CONSTRAINT conversation_outputs_conversation_id_fkey
        FOREIGN KEY (conversation_id) REFERENCES conversations (conversation_id) NOT VALID,
    ADD CONSTRAINT conversation_outputs_workflow_run_id_fkey
        FOREIGN KEY (workflow_run_id) REFERENCES workflow_runs (workflow_run_id) ON DELETE CASCADE NOT VALID,
    ADD CONSTRAINT conversation_outputs_posting_id_fkey
        FOREIGN KEY (posting_id) REFERENCES postings (posting_id) ON DELETE CASCADE NOT VALID;
ALTER TABLE actor_calls
    ADD CONSTRAINT actor_calls_conversation_id_fkey
        FOREIGN KEY (conversation_id) REFERENCES conversations (conversation_id) NOT VALID,
    ADD CONSTRAINT actor_calls_workflow_run_id_fkey
        FOREIGN KEY (workflow_run_id) REFERENCES workflow_runs (workflow_run_id) ON DELETE SET NULL NOT VALID,
    ADD CONSTRAINT actor_calls_posting_id_fkey
        FOREIGN KEY (posting_id) REFERENCES postings (posting_id) ON DELETE SET NULL NOT VALID;
ALTER TABLE posting_state_checkpoints
    ADD CONSTRAINT posting_state_checkpoints_conversation_id_fkey
        FOREIGN KEY (conversation_id) REFERENCES conversations (conversation_id) NOT VALID,
    ADD CONSTRAINT posting_state_checkpoints_next_conversation_id_fkey
        FOREIGN KEY (next_conversation_id) REFERENCES conversations (conversation_id) NOT VALID;
"""


def upgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, UPGRADE)
    # INSTALL-BEGIN
    install(
        connection,
        "0600_function_render_prompts.sql",
        "5197fbde48f6b09d5de920d741eb2ea2ec69edb8ffaf5e0e9922e802ae1550e4",
    )
    install(
        connection,
        "0610_function_branch_matches.sql",
        "6fa13c1ca2f22a9c9c5aa9fe5b62ec2e98f412166197678c3d831a6041e0767a",
    )
    install(
        connection,
        "0620_function_first_matching_branch.sql",
        "17cb78b8ff6895b73dfe66266fa00a76aaeefec3084927c165b4353e5593238b",
    )
    install(
        connection,
        "0700_function_start_run.sql",
        "a18c273bfe7a72fd258431f2f3cfb4751563706f3d4aa1c68c3ada95f24d8b73",
    )
    install(
        connection,
        "0710_function_sweep_expired_claims.sql",
        "3aaebf5eb790a99281986333160b172a5575a5b59fae7ed4baa4e0d2ba831755",
    )
    install(
        connection,
        "0720_function_claim_chunk.sql",
        "0fcdef71030d0db0b60dc9ae26df2722096674e9b40fa83324b1ea4e6af9f026",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "4dc867383a5b6d55e3e3f8a7a1b0e0a3394897d0940cc116eae49eb6cbaefc5d",
    )
    install(
        connection,
        "0740_function_heartbeat.sql",
        "4bce18a07710d1a82d7b33a37cd05a6206330e33bb3d9c8bd671a7174d7b09bb",
    )
    install(
        connection,
        "0750_function_release_claims.sql",
        "8b9c4cf90567574d22d217f940497a5ec4bc8f0dda5fafd4da9630bc658a81ad",
    )
    install(
        connection,
        "0760_function_stop_worker.sql",
        "fe3c24f39328357fd50966b819651d55f303d67c1f37c1dfac5421284032be54",
    )
    install(
        connection,
        "0770_function_run_progress.sql",
        "a8ba9aab9cff129f76074e345b8f19f8b31cf25addf09dd8ab15235afd6df3cd",
    )
    install(
        connection,
        "0780_function_run_summary.sql",
        "3b50f685ca0bf3de3d29b7c0a69dc94941aee84f8a7646be3e7983dbae381cca",
    )
    install(
        connection,
        "0790_function_delete_log_rows.sql",
        "d2e09a21a43dbdc92993aeebde6e8e18929ea5f108ba53487c5bdf368b5b606c",
    )
    # INSTALL-END
    execute_script(connection, LOG_TRIGGERS)
    execute_script(connection, SCHEDULE_SWEEP)


def downgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, DROP_LOG_TRIGGERS)
    execute_script(connection, DROP_FUNCTIONS)
    execute_script(connection, DOWNGRADE)
