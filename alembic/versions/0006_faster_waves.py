"""faster waves: a chunk is claimed as one JSON document (claim_chunk_v2) and completed in one routing
statement; the work queue and the checkpoints lose the per-row key checks that cost a third of each
completion. claim_chunk() stays, as rows over claim_chunk_v2(), for workers of the previous version

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Every write of a wave checked these keys row by row (measured: about 3 ms per key per 500 rows).
# The rows are written only by start_run() and complete_chunk() from ids they have just read, so
# what the keys guarded is the other side: delete_log_rows() does what the cascades did and
# guard_work_references() refuses what the keys refused, each once per statement.
# posting_work_posting_idx served only the cascade, and it misled the claim into scanning in posting
# order past finished work.
UPGRADE = """
DROP INDEX posting_work_posting_idx;
ALTER TABLE posting_work
    DROP CONSTRAINT posting_work_posting_id_fkey,
    DROP CONSTRAINT posting_work_conversation_id_fkey;
ALTER TABLE posting_state_checkpoints
    DROP CONSTRAINT posting_state_checkpoints_workflow_run_id_fkey,
    DROP CONSTRAINT posting_state_checkpoints_posting_id_fkey;
ALTER TABLE actor_calls DROP CONSTRAINT actor_calls_actor_id_fkey;
-- complete_chunk() now chooses the branches of a whole chunk in one pass; the per-posting form is unused
DROP FUNCTION public.first_matching_branch(integer, text, text);
"""

GUARD_TRIGGERS = """
CREATE TRIGGER actors_guard_deletes AFTER DELETE ON actors
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION guard_work_references();
CREATE TRIGGER actors_guard_updates AFTER UPDATE ON actors
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION guard_work_references();
CREATE TRIGGER conversations_guard_deletes AFTER DELETE ON conversations
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION guard_work_references();
CREATE TRIGGER conversations_guard_updates AFTER UPDATE ON conversations
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION guard_work_references();
"""

DOWNGRADE = """
DROP TRIGGER actors_guard_deletes ON actors;
DROP TRIGGER actors_guard_updates ON actors;
DROP TRIGGER conversations_guard_deletes ON conversations;
DROP TRIGGER conversations_guard_updates ON conversations;
DROP FUNCTION public.guard_work_references();
DROP FUNCTION public.prompt_expression(text);
ALTER TABLE actor_calls
    ADD CONSTRAINT actor_calls_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES actors (actor_id) NOT VALID;
ALTER TABLE posting_state_checkpoints
    ADD CONSTRAINT posting_state_checkpoints_workflow_run_id_fkey
        FOREIGN KEY (workflow_run_id) REFERENCES workflow_runs (workflow_run_id) ON DELETE CASCADE NOT VALID,
    ADD CONSTRAINT posting_state_checkpoints_posting_id_fkey
        FOREIGN KEY (posting_id) REFERENCES postings (posting_id) ON DELETE CASCADE NOT VALID;
ALTER TABLE posting_work
    ADD CONSTRAINT posting_work_posting_id_fkey
        FOREIGN KEY (posting_id) REFERENCES postings (posting_id) ON DELETE CASCADE NOT VALID,
    ADD CONSTRAINT posting_work_conversation_id_fkey
        FOREIGN KEY (conversation_id) REFERENCES conversations (conversation_id) NOT VALID;
-- NOT VALID: rows written meanwhile are not re-checked (VALIDATE CONSTRAINT does it when wanted)
CREATE INDEX posting_work_posting_idx ON posting_work (posting_id);
"""


def upgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, UPGRADE)
    # INSTALL-BEGIN
    install(
        connection,
        "0015_function_posting_columns.sql",
        "5c2f917a0d68444a9e85c0b4c2da031e02ddb460c214e2cb8953c3fb7b7423fb",
    )
    install(
        connection,
        "0430_function_workflow_check_placeholders.sql",
        "c35b4c49834a1f4ee9060db2c27fdfb02fa63481c6b34622d47617d7c4339215",
    )
    install(
        connection,
        "0312_function_workflow_stage_entries.sql",
        "4bb4654e1de89c235fde787c0b404b6ea5e02db3c239dbec008eab41c4655ed6",
    )
    install(
        connection,
        "0590_function_prompt_expression.sql",
        "ec3573ef2d3b05df1f7ba5b976f8acdb99801bcf2f75a0de707276fa6b29e31a",
    )
    install(
        connection,
        "0600_function_render_prompts.sql",
        "eff192ef907d82eee68488298c26f2f86c2af613168bd86804c00cb11fcae093",
    )
    install(
        connection,
        "0700_function_start_run.sql",
        "9989fec553757b9dfe1252a0d709580ddfaaea4646bd26774c60c0176de1125d",
    )
    install(
        connection,
        "0720_function_claim_chunk_v2.sql",
        "b1032990dbc6d8e835682911e32eccd3dc3e8b61935be2a74d4e37bce64e7ebc",
    )
    install(
        connection,
        "0721_function_claim_chunk.sql",
        "298f3f9426eaf07434bc239d6120c306add4a4b760ec9cfe9bbdf8f7543bcaaf",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "11cf6128af54b16249dc8bc0be3b3ebcce48d33a84e13c839bcdcd6b2d4a1d79",
    )
    install(
        connection,
        "0790_function_delete_log_rows.sql",
        "e05dda4508638ba4c04ec305d62fab47653745c33670757f703a01753b429b89",
    )
    install(
        connection,
        "0795_function_guard_work_references.sql",
        "7ec33b478c542d98c6a4c2d818a229494c20d8fd505e64599514dcbe6d5dba94",
    )
    # INSTALL-END
    execute_script(connection, GUARD_TRIGGERS)


def downgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, DOWNGRADE)
    # the versions migrations 0004 and 0005 installed
    # (claim_chunk is restored before claim_chunk_v2, which it wraps, is dropped)
    install(
        connection,
        "0150_function_workflow_stage_entries.sql",
        "267e7a06058a3acddb177625fe5338944497f3bcd22542c7e133df2a61af1f42",
    )
    install(
        connection,
        "0430_function_workflow_check_placeholders.sql",
        "90e765054e3172c787d212841e17f3f7a2ec20b34c643de61c7bb64dc2261466",
    )
    install(
        connection,
        "0620_function_first_matching_branch.sql",
        "17cb78b8ff6895b73dfe66266fa00a76aaeefec3084927c165b4353e5593238b",
    )
    install(
        connection,
        "0600_function_render_prompts.sql",
        "5197fbde48f6b09d5de920d741eb2ea2ec69edb8ffaf5e0e9922e802ae1550e4",
    )
    install(
        connection,
        "0700_function_start_run.sql",
        "a18c273bfe7a72fd258431f2f3cfb4751563706f3d4aa1c68c3ada95f24d8b73",
    )
    install(
        connection,
        "0720_function_claim_chunk.sql",
        "0fcdef71030d0db0b60dc9ae26df2722096674e9b40fa83324b1ea4e6af9f026",
    )
    execute_script(connection, "DROP FUNCTION public.claim_chunk_v2(bigint, text, integer, integer);")
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "4dc867383a5b6d55e3e3f8a7a1b0e0a3394897d0940cc116eae49eb6cbaefc5d",
    )
    install(
        connection,
        "0790_function_delete_log_rows.sql",
        "d2e09a21a43dbdc92993aeebde6e8e18929ea5f108ba53487c5bdf368b5b606c",
    )
    execute_script(connection, "DROP FUNCTION public.posting_columns();")
