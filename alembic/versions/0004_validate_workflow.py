"""refuse to run what cannot run: validate_workflow() and its checks, in SQL, plus a default entry
point for stages without their own

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op

from turing_db.procedures import execute_script, install

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DROP_VALIDATION = """
DROP FUNCTION public.validate_workflow(integer);
DROP FUNCTION public.workflow_check_placeholders(integer);
DROP FUNCTION public.workflow_dominators(integer);
DROP FUNCTION public.workflow_check_branch_conditions(integer);
DROP FUNCTION public.workflow_check_error_handling(integer);
DROP FUNCTION public.workflow_check_termination(integer);
DROP FUNCTION public.workflow_check_reachability(integer);
DROP FUNCTION public.workflow_check_entry_points(integer);
DROP FUNCTION public.workflow_check_branch_targets(integer);
DROP FUNCTION public.workflow_check_instructions(integer);
DROP FUNCTION public.workflow_check_actors(integer);
DROP FUNCTION public.workflow_check_definition(integer);
DROP FUNCTION public.workflow_branches(integer);
DROP FUNCTION public.workflow_steps(integer);
DROP FUNCTION public.template_placeholders(text);
"""


def upgrade() -> None:
    connection = op.get_bind()
    install(
        connection,
        "0150_function_workflow_stage_entries.sql",
        "cef77d30ebd4f53287709e818c83c55f362aa636b609e84ed09bd0ef3c5a82f3",
    )
    install(
        connection,
        "0200_function_posting_entry_points.sql",
        "553bffb3f754283b7058a11a4daeaf1968aabfc14b536fd0bbac58ff8c1df629",
    )
    install(
        connection,
        "0300_function_template_placeholders.sql",
        "b3328b9674d4fb58e1956c41b7afde82c59b9b5ad7f60593fadbb1f4c01dbc42",
    )
    install(
        connection,
        "0310_function_workflow_steps.sql",
        "777a3ffdf565ed4523322696c2576b776fce2ecec0734485346c80628e628195",
    )
    install(
        connection,
        "0320_function_workflow_branches.sql",
        "02a25228bfe99d4d1c7493d2085e9c1aa1f2ba14f2cee987aa7b16da5258a65b",
    )
    install(
        connection,
        "0330_function_workflow_check_definition.sql",
        "7220435e8622ea9e6508e61636940cee6f13dd82e227afaf5e9ebac9776bf5b3",
    )
    install(
        connection,
        "0340_function_workflow_check_actors.sql",
        "20755daaf7bef47b5d7496e2b395a146a91b306164a40d2198a1fa583178b70d",
    )
    install(
        connection,
        "0350_function_workflow_check_instructions.sql",
        "1b8470aa1c0b36ffc328604a6a0b87fef4fc91b2f7bb944a3f2e368cda14cfdf",
    )
    install(
        connection,
        "0360_function_workflow_check_branch_targets.sql",
        "be09effa57766a821e425ff7182bd3093015a745f971a0a8b5286dc0bb59530e",
    )
    install(
        connection,
        "0370_function_workflow_check_entry_points.sql",
        "5cd87de222d045de0347c26f59c5eb4e32b0c2d70fb4d3e01813b6bc7e75abb1",
    )
    install(
        connection,
        "0380_function_workflow_check_reachability.sql",
        "f58d9c41f669cb67444aa044975f42dbb1f33b60f6342ae6a95b5778fb3a9dfa",
    )
    install(
        connection,
        "0390_function_workflow_check_termination.sql",
        "e51083f4bd9e417c46b0f2f8fcf9b5dd62a988facfa072554c1a68bdf81d9018",
    )
    install(
        connection,
        "0400_function_workflow_check_error_handling.sql",
        "03ea994e9436ca52afbb184a456415697eb27b685a00eb0ebf1962d1b87256ff",
    )
    install(
        connection,
        "0410_function_workflow_check_branch_conditions.sql",
        "c49df418f1d78bac989af8a245aa17cf0df8a8276ffe9efbc9c16c1363bd2be5",
    )
    install(
        connection,
        "0420_function_workflow_dominators.sql",
        "53fd4f77f3da93ea3cf09fefd650977e1eada99aab58de24a60954f86077e678",
    )
    install(
        connection,
        "0430_function_workflow_check_placeholders.sql",
        "292e3a0a1d9f909b96cbf2f8b49fb2024e05986073f4bf2232ab8838508d4bbf",
    )
    install(
        connection,
        "0500_function_validate_workflow.sql",
        "eacf872bf979c199f60e0b2f43184c462164e1c327c2e8edd903e12052a38f19",
    )


def downgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, DROP_VALIDATION)
    install(
        connection,
        "0200_function_posting_entry_points.sql",
        "e4502b0d6cfe4a62843aacce0e235853d04d5a4aced60e9b23c95cd1ce2a4fc0",
    )
    execute_script(connection, "DROP FUNCTION public.workflow_stage_entries(integer);")
