"""placeholders parsed once: instructions.placeholders stores a template's placeholders (a generated
column over template_placeholder_list(), recomputed whenever the template is written), and
workflow_check_placeholders() reads them instead of parsing every template at every validation

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE instructions
    ADD COLUMN placeholders jsonb GENERATED ALWAYS AS (public.template_placeholder_list(prompt_template)) STORED;
COMMENT ON COLUMN instructions.placeholders IS
    'the template''s placeholders but literal braces, [{token, kind, name}], parsed when it is written';
"""

DOWNGRADE_AFTER = """
ALTER TABLE instructions DROP COLUMN placeholders;
DROP FUNCTION public.template_placeholder_list(text);
"""


def upgrade() -> None:
    connection = op.get_bind()
    # INSTALL-BEGIN
    install(
        connection,
        "0305_function_template_placeholder_list.sql",
        "122ecb6b4207da7beec68ba405c8c9286f459a4ec29ebba6d4a000abc93b15d6",
    )
    execute_script(connection, UPGRADE)  # the column needs the function, the check needs the column
    install(
        connection,
        "0430_function_workflow_check_placeholders.sql",
        "e07b6085615e44345f6c3bad70a4bcfd2652ee2d7d5fa1fb1ab3b170c5ff1b47",
    )
    # INSTALL-END


def downgrade() -> None:
    connection = op.get_bind()
    # the version migration 0006 installed
    install(
        connection,
        "0430_function_workflow_check_placeholders.sql",
        "c35b4c49834a1f4ee9060db2c27fdfb02fa63481c6b34622d47617d7c4339215",
    )
    execute_script(connection, DOWNGRADE_AFTER)
