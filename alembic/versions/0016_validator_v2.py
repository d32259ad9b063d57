"""validator v2: the branch list and the graph are computed once per validation and handed to the
checks as arrays of two composite types (workflow_branch, workflow_graph_node) instead of being
recomputed by each check or passed as JSON (the checks' extra parameters change their signatures);
safe fixes (workflow_fixes(), fix_workflow()); strict workflows (workflows.strict, 3001 among them):
a deferred constraint trigger on every definition table refuses a commit that leaves one invalid

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TYPE workflow_branch AS (
    conversation_id integer, canonical_name text, instruction_step_id integer, branch_condition text,
    branch_priority integer, branch_rank bigint, next_conversation_id integer, target_kind text
);
COMMENT ON TYPE workflow_branch IS 'a row of workflow_branches(): one enabled branch of a step, in the order tried';
CREATE TYPE workflow_graph_node AS (
    conversation_id integer, canonical_name text, reachable boolean, finishes boolean, cycle text,
    loops_to integer[], dom_pre integer, dom_post integer
);
COMMENT ON TYPE workflow_graph_node IS 'a row of workflow_graph(): what the branches imply for one step';
DROP FUNCTION public.workflow_check_placeholders(integer, jsonb);
DROP FUNCTION public.workflow_check_termination(integer, jsonb);
DROP FUNCTION public.workflow_check_reachability(integer, jsonb);
DROP FUNCTION public.workflow_check_branch_conditions(integer);
DROP FUNCTION public.workflow_check_error_handling(integer);
DROP FUNCTION public.workflow_check_branch_targets(integer);
DROP FUNCTION public.workflow_graph_nodes(integer, jsonb);
DROP FUNCTION public.workflow_graph(integer);
"""

# the tables a workflow's definition lives in: a deferred check of the strict workflows a changed row
# can affect, and after each changing statement (after its row triggers) a new batch of checks
DEFINITION_TABLES = ("workflows", "workflow_conversations", "conversations", "instructions", "instruction_steps",
                     "actors", "stages")  # fmt: skip
STRICT = """
ALTER TABLE workflows ADD COLUMN strict boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN workflows.strict IS 'a change that leaves the workflow invalid is refused at commit (check_strict_workflows)';
""" + "".join(
    f"CREATE CONSTRAINT TRIGGER {table}_strict AFTER INSERT OR UPDATE OR DELETE ON {table}\n"
    "    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.check_strict_workflows();\n"
    f"CREATE TRIGGER {table}_changes_counted AFTER INSERT OR UPDATE OR DELETE ON {table}\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION public.count_definition_changes();\n"
    for table in DEFINITION_TABLES
)
STRICT += """
UPDATE workflows SET strict = true WHERE workflow_id = 3001;
-- check it now: a pending trigger event would keep later statements of this transaction (a
-- downgrade, another migration) from altering the table
SET CONSTRAINTS workflows_strict IMMEDIATE;
SET CONSTRAINTS workflows_strict DEFERRED;
SELECT public.apply_role_grants();  -- a reader may list a workflow's fixes (workflow_fixes)
"""

DOWNGRADE = (
    "".join(
        f"DROP TRIGGER {table}_changes_counted ON {table};\nDROP TRIGGER {table}_strict ON {table};\n"
        for table in DEFINITION_TABLES
    )
    + """
ALTER TABLE workflows DROP COLUMN strict;
DROP FUNCTION public.check_strict_workflows();
DROP FUNCTION public.count_definition_changes();
DROP FUNCTION public.fix_workflow(integer, boolean);
DROP FUNCTION public.workflow_fixes(integer);
DROP FUNCTION public.workflow_check_placeholders(integer, workflow_graph_node[], workflow_branch[]);
DROP FUNCTION public.workflow_check_termination(integer, workflow_graph_node[], workflow_branch[]);
DROP FUNCTION public.workflow_check_reachability(integer, workflow_graph_node[]);
DROP FUNCTION public.workflow_check_branch_conditions(integer, workflow_branch[]);
DROP FUNCTION public.workflow_check_error_handling(integer, workflow_branch[]);
DROP FUNCTION public.workflow_check_branch_targets(integer, workflow_branch[]);
DROP FUNCTION public.workflow_graph_nodes(integer, workflow_graph_node[]);
DROP FUNCTION public.workflow_graph(integer);
DROP FUNCTION public.workflow_branch_list(integer, workflow_branch[]);
DROP TYPE workflow_graph_node;
DROP TYPE workflow_branch;
"""
)


def upgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, UPGRADE)
    # INSTALL-BEGIN
    install(
        connection,
        "0322_function_workflow_branch_list.sql",
        "67c299824edccfbbc1b06d1aadc750682ed3f324b8ab924b4b69e2a75d270bfa",
    )
    install(
        connection,
        "0325_function_workflow_graph.sql",
        "1604aa5176e7959e5605e326ef65d7794f648076b7c4963955e892549300f8be",
    )
    install(
        connection,
        "0327_function_workflow_graph_nodes.sql",
        "a7b35e373fbf65c774423bc6ada21ce2cd347303109fd63ecd0a5ee4914bf5fa",
    )
    install(
        connection,
        "0360_function_workflow_check_branch_targets.sql",
        "01888e3e7ef443fad201641ea08ea8db5a3b047ba11018a0f680ae59f2c447f3",
    )
    install(
        connection,
        "0380_function_workflow_check_reachability.sql",
        "9ea4ffc2f7efcce4073d32002922104c9c37a8dab931c35e4c08f7462b73c1c9",
    )
    install(
        connection,
        "0390_function_workflow_check_termination.sql",
        "14bf7177a785867e6100ec198650894df2c367e1a93961e4b219f75167ae839f",
    )
    install(
        connection,
        "0400_function_workflow_check_error_handling.sql",
        "ab1b6b4429c7e4bdb025f5ddf671777a1ea239ba39722005ec5c5211a4157028",
    )
    install(
        connection,
        "0410_function_workflow_check_branch_conditions.sql",
        "67b3ed42234d607d4a72d2e2114070d04a08d5496a233f8be98bedb4d7aba497",
    )
    install(
        connection,
        "0430_function_workflow_check_placeholders.sql",
        "30994a1348a06adc863a7ce6c04ab5478cb68b67c222b3162abe8cbfd2173dba",
    )
    install(
        connection,
        "0500_function_validate_workflow.sql",
        "708ad866f3432429e15d43dc790ef80a62963bf5251a9233abf62c0d6aa6009f",
    )
    install(
        connection,
        "0510_function_workflow_fixes.sql",
        "346fbbf781c3e8d56f5609786b2e007ce5f00684a8aac6a1a0762290eb56f341",
    )
    install(
        connection,
        "0520_function_fix_workflow.sql",
        "a6022a101cff5d594e92a3a8f0c7424681af8b9f671de9c174ffc0b38d8db12f",
    )
    install(
        connection,
        "0530_function_check_strict_workflows.sql",
        "0b992956d1063e930a5ba4cff4440eb25a86a8029dd69b165a6bc3976410dcd5",
    )
    install(
        connection,
        "0532_function_count_definition_changes.sql",
        "a5770421eb69379f64cd5b43d5d617a0185ca1dbf44b75a45e9de1d670bc266f",
    )
    install(
        connection,
        "0900_function_apply_role_grants.sql",
        "e1ada96230d8619b9fcfd5bc2920d1764673d586ef94341c34713da4f79a54ea",
    )
    # INSTALL-END
    execute_script(connection, STRICT)


def downgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, DOWNGRADE)
    # the versions the migrations before installed
    install(
        connection,
        "0900_function_apply_role_grants.sql",
        "29a7878fd390573a21a29ebdd0898b6d24429c11e128174a93811e81de84f37e",
    )
    install(
        connection,
        "0325_function_workflow_graph.sql",
        "42eb59cb7918554f14ce34c0ea25cc61677995d6291e3ca2259121fa8da122e5",
    )
    install(
        connection,
        "0327_function_workflow_graph_nodes.sql",
        "fe13dcce3de3386cbcb7c686d0f6fe6fd14d4464814ce6a8f64c6c8909e6a7f4",
    )
    install(
        connection,
        "0360_function_workflow_check_branch_targets.sql",
        "a6e67f68a4fb168008ebd6e41e43185a2b7d05816fc7e7d84fcdde15ccf56982",
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
        "2ff3436c9c10ceb8798fd1af189de9b2a725605e7b8d6ec2087738f0f87459c7",
    )
    install(
        connection,
        "0410_function_workflow_check_branch_conditions.sql",
        "b7b67af15f2c53aefb7427ada9169d3410847a857c7f884f412cafd4530213ca",
    )
    install(
        connection,
        "0430_function_workflow_check_placeholders.sql",
        "e07b6085615e44345f6c3bad70a4bcfd2652ee2d7d5fa1fb1ab3b170c5ff1b47",
    )
    install(
        connection,
        "0500_function_validate_workflow.sql",
        "6dd450286e3f3af8d49dacce2849f939c23c6eca8252d2e67250cfc6da91c06d",
    )
