"""refuse to run what cannot run: validate_workflow() and its checks, in SQL, plus a default entry
point for stages without their own

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DROP_VALIDATION = """
DROP FUNCTION public.validate_workflow(integer);
DROP FUNCTION public.workflow_check_placeholders(integer, jsonb);
DROP FUNCTION public.workflow_check_branch_conditions(integer);
DROP FUNCTION public.workflow_check_error_handling(integer);
DROP FUNCTION public.workflow_check_termination(integer, jsonb);
DROP FUNCTION public.workflow_check_reachability(integer, jsonb);
DROP FUNCTION public.workflow_check_entry_points(integer);
DROP FUNCTION public.workflow_check_branch_targets(integer);
DROP FUNCTION public.workflow_check_instructions(integer);
DROP FUNCTION public.workflow_check_actors(integer);
DROP FUNCTION public.workflow_check_definition(integer);
DROP FUNCTION public.workflow_graph_nodes(integer, jsonb);
DROP FUNCTION public.workflow_graph(integer);
DROP FUNCTION public.workflow_branches(integer);
DROP FUNCTION public.workflow_executed(integer);
DROP FUNCTION public.workflow_steps(integer);
DROP FUNCTION public.template_placeholders(text);
DROP FUNCTION public.template_token_pattern();
"""


def upgrade() -> None:
    connection = op.get_bind()
    install(
        connection,
        "0150_function_workflow_stage_entries.sql",
        "267e7a06058a3acddb177625fe5338944497f3bcd22542c7e133df2a61af1f42",
    )
    install(
        connection,
        "0200_function_posting_entry_points.sql",
        "6a808395f227684399435e2b6ffa4c1b88c87ddbbe6a46a840c8cfdfa573f2ae",
    )
    install(
        connection,
        "0290_function_template_token_pattern.sql",
        "d3a01020a9549e5cd0b8c956ee7c9586f97f1db0fe4beb006ad4d36e7daa9d96",
    )
    install(
        connection,
        "0300_function_template_placeholders.sql",
        "f0bd8e11e5516e35b09789b94d19d48ded2fac2d321da52d29dde015d03e7ced",
    )
    install(
        connection,
        "0310_function_workflow_steps.sql",
        "dfdc44880f85c29d70a68de6745864d920d46da94ce047010b12e519ad655afd",
    )
    install(
        connection,
        "0315_function_workflow_executed.sql",
        "05709288e9a0353cc67209a6354acc8796a0f32413e71f20e743939bf7d13921",
    )
    install(
        connection,
        "0320_function_workflow_branches.sql",
        "f5c365950695852cdc543cc7933f375171bc9c8e3d36edc77c586a04f17502e6",
    )
    install(
        connection,
        "0325_function_workflow_graph.sql",
        "70fb4349fea97273eb5ac8c0a650f7a9d732e8695ce78aba3153d3a9683278c8",
    )
    install(
        connection,
        "0327_function_workflow_graph_nodes.sql",
        "fe13dcce3de3386cbcb7c686d0f6fe6fd14d4464814ce6a8f64c6c8909e6a7f4",
    )
    install(
        connection,
        "0330_function_workflow_check_definition.sql",
        "878fa7891003a051c13d603480e99f9050ee9966b1a2932e5efa04f2f3b2ea2b",
    )
    install(
        connection,
        "0340_function_workflow_check_actors.sql",
        "bb1ef17dddc32184ab3f74bb9ed3975a9398c8a65bd04cdab41afeb3d9052004",
    )
    install(
        connection,
        "0350_function_workflow_check_instructions.sql",
        "a1feae6e430d6347d7f400b1a11b4624931ded62a24335860bfba3d8667aab69",
    )
    install(
        connection,
        "0360_function_workflow_check_branch_targets.sql",
        "a6e67f68a4fb168008ebd6e41e43185a2b7d05816fc7e7d84fcdde15ccf56982",
    )
    install(
        connection,
        "0370_function_workflow_check_entry_points.sql",
        "c91ff27e0e1dcff2ca82870cb841c994b4075774b72a4ae58051d7f4fd66978d",
    )
    install(
        connection,
        "0380_function_workflow_check_reachability.sql",
        "4aca11d4a1bcc58ce201d0d105f5b32443c9b7b64f8eea2934dbda4f3cff32bc",
    )
    install(
        connection,
        "0390_function_workflow_check_termination.sql",
        "451492e813952335758aaab56adf35fb928ab6663c06d159bb7daeda142e93d7",
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
        "0430_function_workflow_check_placeholders.sql",
        "90e765054e3172c787d212841e17f3f7a2ec20b34c643de61c7bb64dc2261466",
    )
    install(
        connection,
        "0500_function_validate_workflow.sql",
        "bd95dc1cecdbd10667456f03634da6b75a2f57b73091beeb232e07cd26469a0c",
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
