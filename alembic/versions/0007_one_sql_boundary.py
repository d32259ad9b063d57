"""one definition of each thing: the engine's sentinels listed once (engine_sentinels), "pending"
defined once (posting_stage_expressions, compiled into routing and posting_stages), the reports
as SQL (run_overview), posting imports as a SQL function (insert_postings), an invalid workflow refused with its own
SQLSTATE and its findings (start_run), and workflow 3001's actors moved to turing_db.reference

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The offline actors of workflow 3001 moved with the reference workflow's package.
MOVE_CALLABLES = """
UPDATE actors SET config = jsonb_set(config, '{callable}',
                                      to_jsonb(replace(config ->> 'callable', '{old}', '{new}')))
 WHERE actor_type = 'python' AND config ->> 'callable' LIKE '{old}%';
"""
MODULES = (("turing_db.offline:", "turing_db.reference.offline:"),
           ("turing_db.skills:", "turing_db.reference.skills:"))  # fmt: skip


def upgrade() -> None:
    connection = op.get_bind()
    # INSTALL-BEGIN
    install(
        connection,
        "0020_function_engine_sentinels.sql",
        "a2a101e2c6a104530e98ad475896329811f4c4b99d3040fe6b690506fd46b3bd",
    )
    install(
        connection,
        "0030_function_insert_postings.sql",
        "512ecd0d25b8a0cef2871cfec84a4d150660e55ff37edb590842774a57762707",
    )
    install(
        connection,
        "0185_function_posting_stage_expressions.sql",
        "f7acd8db3ac1cfbb950d48884a084c0d57f6055898b4d28397b05088e8069955",
    )
    install(
        connection,
        "0190_function_posting_stages.sql",
        "55cf2dda5cdf378ea2fa2a761764529be38da826f271edcc7d35410a7196ca23",
    )
    install(
        connection,
        "0195_function_posting_counts.sql",
        "f4189fc6430b4cb5e41752053e7d19e3b8f65dcef253ed9651f2196a2324abf5",
    )
    install(
        connection,
        "0316_function_posting_entry_points.sql",
        "36539d0478642fa1991f594b9e64b1735bbd4661e043b5ad383fc9bab840cd66",
    )
    install(
        connection,
        "0320_function_workflow_branches.sql",
        "5723d3f3bc0df736b37cb452d9197224a8f9f1d1f2dac7f242a58413b9432773",
    )
    install(
        connection,
        "0400_function_workflow_check_error_handling.sql",
        "2ff3436c9c10ceb8798fd1af189de9b2a725605e7b8d6ec2087738f0f87459c7",
    )
    install(
        connection,
        "0410_function_workflow_check_branch_conditions.sql",
        "b7b67af15f2c53aefb7427ada9169d3410847a857c7f884f412cafd4530213ca",
    )
    install(
        connection,
        "0610_function_branch_matches.sql",
        "d917d6625a620c7ee6ee1e9e8254508e7cdca865553030eef8969e5c3b02dc4f",
    )
    install(
        connection,
        "0700_function_start_run.sql",
        "e11194ad25c57cc8c5c3ea600cfa2f90560700aceadfb3c4a9a68b28613fbe95",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "cb96464254452aa4fa8f642c94b3c87c0eb5fa5b72b6276d201bd3f9e96bf498",
    )
    install(
        connection,
        "0785_view_run_overview.sql",
        "5c3a14038c3d235c9e00a3f7e52ef14d4a31ffd4ba8bddd6bc5aa7de9dcf5f9b",
    )
    # INSTALL-END
    for old, new in MODULES:
        execute_script(connection, MOVE_CALLABLES.replace("{old}", old).replace("{new}", new))


def downgrade() -> None:
    connection = op.get_bind()
    for old, new in MODULES:
        execute_script(connection, MOVE_CALLABLES.replace("{old}", new).replace("{new}", old))
    execute_script(connection, "DROP VIEW public.run_overview;")
    # the versions migrations 0004, 0005 and 0006 installed
    install(
        connection,
        "0200_function_posting_entry_points.sql",
        "6a808395f227684399435e2b6ffa4c1b88c87ddbbe6a46a840c8cfdfa573f2ae",
    )
    install(
        connection,
        "0320_function_workflow_branches.sql",
        "f5c365950695852cdc543cc7933f375171bc9c8e3d36edc77c586a04f17502e6",
    )
    install(
        connection,
        "0400_function_workflow_check_error_handling.sql",
        "35e8827ddc9f7038623c9b4447ceb7cb6d3fc8459d587cd0d0044e992d0f0ff9",
    )
    install(
        connection,
        "0410_function_workflow_check_branch_conditions.sql",
        "7089ef96cd16c93dcf17c2cd9c5c9fedeccd4d656e1af4850e8e083cc8375999",
    )
    install(
        connection,
        "0610_function_branch_matches.sql",
        "6fa13c1ca2f22a9c9c5aa9fe5b62ec2e98f412166197678c3d831a6041e0767a",
    )
    install(
        connection,
        "0700_function_start_run.sql",
        "9989fec553757b9dfe1252a0d709580ddfaaea4646bd26774c60c0176de1125d",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "11cf6128af54b16249dc8bc0be3b3ebcce48d33a84e13c839bcdcd6b2d4a1d79",
    )
    execute_script(
        connection,
        """
        DROP FUNCTION public.insert_postings(jsonb);
        DROP FUNCTION public.posting_counts();
        DROP FUNCTION public.posting_stages();
        DROP FUNCTION public.posting_stage_expressions();
        DROP FUNCTION public.engine_sentinels();
        """,
    )
