"""provision the global error handler and the reference job-posting workflow 3001, so a fresh
database can run real work offline

Workflow 3001 (summary → grading with a bounded retry loop → save; skills against the ESCO taxonomy →
save; scoring → save) has one entry point per stage: a posting enters where its first missing stage
begins (posting_entry_points() does that routing). Its actors are offline Python callables until an
LLM backend is configured.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTORS = ("error_recorder", "offline_summarizer", "offline_grader", "esco_skill_matcher", "offline_scorer",
          "stage_saver")  # fmt: skip
CONVERSATIONS = ("error_handler", "extract_summary", "grade_summary", "save_summary", "extract_skills",
                 "save_skills", "score_posting", "save_score")  # fmt: skip

UPGRADE = r"""
INSERT INTO actors (actor_name, actor_type, config, timeout_seconds, description) VALUES
  ('error_recorder',     'python', '{"callable": "turing_db.offline:record_error"}', 10,
   'Writes a readable account of a failed posting: what failed, where, with which output.'),
  ('offline_summarizer', 'python', '{"callable": "turing_db.offline:summarize"}', 30,
   'Offline stand-in for an LLM: an extractive summary of the posting.'),
  ('offline_grader',     'python', '{"callable": "turing_db.offline:grade_summary"}', 30,
   'Offline stand-in for an LLM judge: PASS when the summary is faithful and complete, else FAIL.'),
  ('esco_skill_matcher', 'python', '{"callable": "turing_db.skills:extract_skills"}', 60,
   'Deterministic skill extractor: matches the posting text against the ESCO skills taxonomy.'),
  ('offline_scorer',     'python', '{"callable": "turing_db.offline:score_posting"}', 30,
   'Offline stand-in for an LLM: scores how complete and clear a posting is, 0 to 100.'),
  ('stage_saver',        'python', '{"callable": "turing_db.offline:passthrough"}', 10,
   'Returns its prompt unchanged: a save step whose output SQL writes back to the posting.');

INSERT INTO conversations (conversation_name, canonical_name, actor_id, conversation_type, saves_stage, description)
SELECT v.conversation_name, v.canonical_name, a.actor_id, v.conversation_type, v.saves_stage, v.description
  FROM (VALUES
    ('Error handler',   'error_handler',   'error_recorder',     'error_handler', NULL,
     'Global: receives postings whose error outcome matched no branch.'),
    ('Extract summary', 'extract_summary', 'offline_summarizer', 'single_actor',  NULL,
     'Summarise the posting: role, responsibilities, requirements.'),
    ('Grade summary',   'grade_summary',   'offline_grader',     'single_actor',  NULL,
     'Judge the summary; FAIL sends it back to extraction, at most three visits.'),
    ('Save summary',    'save_summary',    'stage_saver',        'single_actor',  'summary',
     'Write the graded summary to postings.summary.'),
    ('Extract skills',  'extract_skills',  'esco_skill_matcher', 'single_actor',  NULL,
     'Match the posting against the ESCO skills taxonomy; a JSON list of skills.'),
    ('Save skills',     'save_skills',     'stage_saver',        'single_actor',  'skills',
     'Write the skills to postings.skills.'),
    ('Score posting',   'score_posting',   'offline_scorer',     'single_actor',  NULL,
     'Score the posting 0 to 100.'),
    ('Save score',      'save_score',      'stage_saver',        'single_actor',  'score',
     'Write the score to postings.score.')
  ) AS v (conversation_name, canonical_name, actor_name, conversation_type, saves_stage, description)
  JOIN actors a ON a.actor_name = v.actor_name;

INSERT INTO workflows (workflow_id, workflow_name, description) VALUES
  (3001, 'job_posting_pipeline',
   'Job postings: summary with graded retries, ESCO skills, score; each saved back to the posting.');

INSERT INTO workflow_conversations (workflow_id, conversation_id, execution_order, is_entry_point, entry_stage, max_visits)
SELECT 3001, c.conversation_id, v.execution_order, v.entry_stage IS NOT NULL, v.entry_stage, v.max_visits
  FROM (VALUES
    ('extract_summary', 10, 'summary', 3),
    ('grade_summary',   20, NULL,      3),
    ('save_summary',    30, NULL,      NULL),
    ('extract_skills',  40, 'skills',  NULL),
    ('save_skills',     50, NULL,      NULL),
    ('score_posting',   60, 'score',   NULL),
    ('save_score',      70, NULL,      NULL)
  ) AS v (canonical_name, execution_order, entry_stage, max_visits)
  JOIN conversations c ON c.canonical_name = v.canonical_name;

INSERT INTO instructions (conversation_id, prompt_template)
SELECT c.conversation_id, v.prompt_template
  FROM (VALUES
    ('error_handler', E'Posting {posting_id} ({job_title}) could not be processed.\n' ||
                      E'Record what failed so an operator can fix it.'),
    ('extract_summary', E'Summarise this job posting in two or three sentences: the role, the main ' ||
                        E'responsibilities and the key requirements.\n\n' ||
                        E'Title: {job_title}\nCompany: {company}\nLocation: {location}\n\n{job_description}'),
    ('grade_summary', E'Does the summary describe the posting faithfully and completely? ' ||
                      E'Answer PASS or FAIL.\n\nPosting: {job_title}\n{job_description}\n\n' ||
                      E'Summary:\n{output:extract_summary}'),
    ('save_summary', '{output:extract_summary}'),
    ('extract_skills', E'List the skills this posting requires, as ESCO skills, in a JSON array.\n\n' ||
                       E'{job_title}\n\n{job_description}'),
    ('save_skills', '{output:extract_skills}'),
    ('score_posting', E'Score from 0 to 100 how clear and complete this posting is for a candidate. ' ||
                      E'Answer with the number only.\n\nTitle: {job_title}\nSummary: {summary}\n' ||
                      E'Skills: {skills}\n\n{job_description}'),
    ('save_score', '{output:score_posting}')
  ) AS v (canonical_name, prompt_template)
  JOIN conversations c ON c.canonical_name = v.canonical_name;

-- Branches. Sentinels ([ERROR], [FAILED], [TIMEOUT], [CIRCUIT_OPEN], [LOOP_LIMIT]) match only the
-- engine's outcome of that name; any other condition matches an output that contains it; '*' is the
-- fallback. Lower branch_priority is tried first. Error outcomes that match no branch go to the
-- global error handler.
INSERT INTO instruction_steps (instruction_id, branch_condition, next_conversation_id, branch_priority)
SELECT i.instruction_id, v.branch_condition, target.conversation_id, v.branch_priority
  FROM (VALUES
    ('extract_summary', '[TIMEOUT]',    'error_handler',   10),
    ('extract_summary', '[ERROR]',      'error_handler',   20),
    ('extract_summary', '*',            'grade_summary',   100),
    ('grade_summary',   '[LOOP_LIMIT]', 'extract_skills',  5),
    ('grade_summary',   'PASS',         'save_summary',    10),
    ('grade_summary',   'FAIL',         'extract_summary', 20),
    ('grade_summary',   '*',            'extract_summary', 100),
    ('save_summary',    '*',            'extract_skills',  100),
    ('extract_skills',  '[FAILED]',     'error_handler',   10),
    ('extract_skills',  '*',            'save_skills',     100),
    ('save_skills',     '*',            'score_posting',   100),
    ('score_posting',   '[ERROR]',      'error_handler',   10),
    ('score_posting',   '*',            'save_score',      100),
    ('save_score',      '*',            NULL,              100),
    ('error_handler',   '*',            NULL,              100)
  ) AS v (source_name, branch_condition, target_name, branch_priority)
  JOIN conversations source ON source.canonical_name = v.source_name
  JOIN instructions i ON i.conversation_id = source.conversation_id
  LEFT JOIN conversations target ON target.canonical_name = v.target_name;
"""

DOWNGRADE = """
DROP FUNCTION posting_entry_points(integer);
DELETE FROM workflow_runs WHERE workflow_id = 3001;
DELETE FROM workflows WHERE workflow_id = 3001;
DELETE FROM actor_calls WHERE actor_id IN (SELECT actor_id FROM actors WHERE actor_name IN ({actors}));
DELETE FROM instruction_steps WHERE next_conversation_id IN (
    SELECT conversation_id FROM conversations WHERE canonical_name IN ({conversations}));
DELETE FROM conversations WHERE canonical_name IN ({conversations});
DELETE FROM actors WHERE actor_name IN ({actors});
"""


def _quoted(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def upgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, UPGRADE)
    install(
        connection,
        "0200_function_posting_entry_points.sql",
        "e4502b0d6cfe4a62843aacce0e235853d04d5a4aced60e9b23c95cd1ce2a4fc0",
    )


def downgrade() -> None:
    execute_script(
        op.get_bind(), DOWNGRADE.format(actors=_quoted(ACTORS), conversations=_quoted(CONVERSATIONS))
    )
