"""least privilege, hardened after review: complete_chunk() refuses a pg_temp.turing_completion its
owner did not make; max_failed_runs() reads the database's setting, not the caller's session (a
worker's SET must not lift a quarantine), once per posting_counts(); raise_alert() takes a
lower-case event name and at most 16 KiB of details; apply_role_grants() fails when a REVOKE did not
take

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from alembic import op
from sqlalchemy import text

from turing_db.provisioning.procedures import install

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    connection = op.get_bind()
    # INSTALL-BEGIN
    install(
        connection,
        "0195_function_posting_counts.sql",
        "92bea5b31e87e48b7ca40bcb144b243c90e9b343c0904f27407c030127925eb0",
    )
    install(
        connection,
        "0025_function_max_failed_runs.sql",
        "6dda989ca78103ccb3bd7620898a59fb9b13a33613a5cd38fd37d4cf9e0b2a6e",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "cdab4e1757abf40ff97b7011a5499841ae04368241c82f97d36ed3cb8097eb91",
    )
    install(
        connection,
        "0830_function_raise_alert.sql",
        "784b1d6e0e2baa2a8a78f910edc9c72fa0720add58747803098554cacd5d076f",
    )
    install(
        connection,
        "0900_function_apply_role_grants.sql",
        "816169725eeb3e2183c55c2cedfd6610dc5745d975447ceef36eadfc06db45ef",
    )
    # INSTALL-END
    connection.execute(text("SELECT apply_role_grants()"))


def downgrade() -> None:
    connection = op.get_bind()
    # the versions the migrations before installed
    install(
        connection,
        "0195_function_posting_counts.sql",
        "d93ad833c7c0977ad330ce40f6e2a7e5b63ace7280dbf8f92a3d6469159ac6f9",
    )
    install(
        connection,
        "0025_function_max_failed_runs.sql",
        "f31f4e4a9a37191b1d8641a40435a4e12b3fef835c02ebd71228364ac48dbff1",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "ed382f6732bce47037d0d1b4688ea5c48898bf948192f56849dda2c17eacb25a",
    )
    install(
        connection,
        "0830_function_raise_alert.sql",
        "88cfc9dd581dcb577b766b4053ef40153ee023e0287fd98c49897d2ab8779fa6",
    )
    install(
        connection,
        "0900_function_apply_role_grants.sql",
        "e1ada96230d8619b9fcfd5bc2920d1764673d586ef94341c34713da4f79a54ea",
    )
