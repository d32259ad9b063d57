"""a real local model for workflow 3001: use_llm('local', base_url) points its summary, grading and
scoring steps at ordinary openai actors of a llama.cpp server (`turing llm start`), use_llm('offline')
back at the python actors it ships with

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

DOWNGRADE = """
SELECT public.use_llm('offline');
DELETE FROM actors WHERE actor_name IN ('local_summarizer', 'local_grader', 'local_scorer')
   AND NOT EXISTS (SELECT FROM actor_calls WHERE actor_calls.actor_id = actors.actor_id);
DROP FUNCTION public.use_llm(text, text);
-- check 3001 now: a pending strict-check event would keep a later downgrade from altering the tables
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
"""


def upgrade() -> None:
    connection = op.get_bind()
    # INSTALL-BEGIN
    install(
        connection,
        "0920_function_use_llm.sql",
        "07c87979b3dd3822f4e993e26bb2f6a5aa25d173a39ba92e4a687fcb6a5f7f67",
    )
    # INSTALL-END


def downgrade() -> None:
    execute_script(op.get_bind(), DOWNGRADE)
