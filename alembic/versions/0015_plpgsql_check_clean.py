"""functions that plpgsql_check passes: complete_chunk() declares its temporary table to the checker
(a constant string at run time), the three functions whose result comes from dynamic SQL turn its
extra warnings off, workflow_graph() loses an unused variable, it and cron_status() an untyped '{}';
nothing they return changes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from alembic import op

from turing_db.provisioning.procedures import install

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    # INSTALL-BEGIN
    install(
        connection,
        "0190_function_posting_stages.sql",
        "20519fbcfb8e80834b34efde91bd52f41b0739b52e10c772d0fdbca90d076777",
    )
    install(
        connection,
        "0316_function_posting_entry_points.sql",
        "e9aa3170949e45efb8d336fa9e96e6440627538f5df54412a6384dff509577ef",
    )
    install(
        connection,
        "0325_function_workflow_graph.sql",
        "42eb59cb7918554f14ce34c0ea25cc61677995d6291e3ca2259121fa8da122e5",
    )
    install(
        connection,
        "0600_function_render_prompts.sql",
        "f23161ec735a61eeb13e20100f9aa23d20d8b6243cbe86ffe8e83b3d78ef721e",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "ed382f6732bce47037d0d1b4688ea5c48898bf948192f56849dda2c17eacb25a",
    )
    install(
        connection,
        "0865_function_cron_status.sql",
        "4a2d8d10e437022911ddea616572431199799eedb791966029116073d6829538",
    )
    # INSTALL-END


def downgrade() -> None:
    connection = op.get_bind()
    # the versions the migrations before installed
    install(
        connection,
        "0865_function_cron_status.sql",
        "ad66c250e11f55099c3454946367b013be7d7f96a118a27e3580a37c1630c963",
    )
    install(
        connection,
        "0190_function_posting_stages.sql",
        "55cf2dda5cdf378ea2fa2a761764529be38da826f271edcc7d35410a7196ca23",
    )
    install(
        connection,
        "0316_function_posting_entry_points.sql",
        "36539d0478642fa1991f594b9e64b1735bbd4661e043b5ad383fc9bab840cd66",
    )
    install(
        connection,
        "0325_function_workflow_graph.sql",
        "70fb4349fea97273eb5ac8c0a650f7a9d732e8695ce78aba3153d3a9683278c8",
    )
    install(
        connection,
        "0600_function_render_prompts.sql",
        "eff192ef907d82eee68488298c26f2f86c2af613168bd86804c00cb11fcae093",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "e239a03463a886294ca4958062e28926180e340a801e2839c73c98361759927a",
    )
