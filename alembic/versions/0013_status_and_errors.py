"""status, errors and retention: recent_errors() groups failed calls by actor, conversation and kind
with example postings and a message (`turing errors`); run_status() is one run as JSON: progress,
deferred postings, throughput, conversations, workers and errors (`turing status --run ID`);
prune_finished_runs() deletes the logs of runs finished long ago (`turing prune`); run_report() adds
what the HTML report draws: a timeline, latency bands and tokens per actor (`turing report`)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

DOWNGRADE = """
DROP FUNCTION public.run_report(bigint);
DROP FUNCTION public.prune_finished_runs(interval);
DROP FUNCTION public.run_status(bigint);
DROP FUNCTION public.recent_errors(interval, bigint);
"""


def upgrade() -> None:
    connection = op.get_bind()
    # INSTALL-BEGIN
    install(
        connection,
        "0840_function_recent_errors.sql",
        "a4f8d91e313cbdbcd976941cf1e820a8c40aa3cfd9eeed1a885ad84bef2ffe24",
    )
    install(
        connection,
        "0845_function_run_status.sql",
        "14f4a49b1f74e407aa6c7fb893cc086676920bca4e0ab809b9c293bafa9e699e",
    )
    install(
        connection,
        "0850_function_prune_finished_runs.sql",
        "596f35e770f9051cae40ad1151ecaae4bcf3f0d28dde11bfc86b48bff25c2fb1",
    )
    install(
        connection,
        "0855_function_run_report.sql",
        "eaa19f240b24e7357d41a3616f5a155aa08f0ee526ab3575ee4802dbcc9e07c9",
    )
    # INSTALL-END


def downgrade() -> None:
    execute_script(op.get_bind(), DOWNGRADE)
