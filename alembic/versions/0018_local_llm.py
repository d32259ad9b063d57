"""a real local model for workflow 3001: use_llm('local', base_url) points its summary, grading and
scoring steps at ordinary openai actors of a llama.cpp server (`turing llm start`), use_llm('offline')
back at the python actors it ships with; run_summary() adds each conversation's tokens, tokens per
second and longest model load (a new result type: dropped, made again and granted again)

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

UPGRADE = """
DROP FUNCTION public.run_summary(bigint);
"""

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
    execute_script(connection, UPGRADE)
    # INSTALL-BEGIN
    install(
        connection,
        "0780_function_run_summary.sql",
        "2595a15ebee304b638eca371a3a40c413c3e95cae78cefb1ea4fcd549c566877",
    )
    install(
        connection,
        "0920_function_use_llm.sql",
        "1e782d4fa54d1fe44d837f1175969476b99af07ef6f76f2eed21a7446904b4ff",
    )
    # INSTALL-END
    execute_script(connection, "SELECT public.apply_role_grants();")  # run_summary() is new: grant it again


def downgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, DOWNGRADE)
    execute_script(connection, "DROP FUNCTION public.run_summary(bigint);")
    install(  # the version migration 0014 installed
        connection,
        "0780_function_run_summary.sql",
        "a92f120ac57af57167a810f4f03463aff5a380c44f164f6a7e53fc70fb6a5f4b",
    )
    execute_script(connection, "SELECT public.apply_role_grants();")
