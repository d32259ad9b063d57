-- workflow_fixes(workflow_id): the safe fixes validate_workflow()'s findings call for, each with the
-- one statement that makes it. Safe: a fix changes nothing a posting on a valid path would do.
--   visit_limit      an unbounded loop: write down on the step re-entered the limit the engine already
--                    applies to a step without max_visits (complete_chunk(): 25 visits)
--   entry_point      no entry point, and exactly one step that no branch of another step leads to: it
--                    is where postings must start (no posting can run before it is marked)
--   fallback_branch  no '*' branch, and the global error handler is enabled: outputs matching no
--                    branch go to it already; a '*' branch to it, tried last, says so (the checkpoint's
--                    note no longer says "no branch matches")
--   duplicate_branch a branch repeating the condition of one tried before it never matches: disable it
-- Not fixed, because a guess would change behaviour: shadowed conditions (which branch was meant?),
-- misspelt sentinels, missing actors or instructions, unreachable steps.
CREATE OR REPLACE FUNCTION public.workflow_fixes(p_workflow_id integer)
RETURNS TABLE (fix text, conversation text, reason text, statement text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
SET jit = off
AS $function$
    WITH finding AS MATERIALIZED (
        SELECT * FROM public.validate_workflow(p_workflow_id)
    ), step AS MATERIALIZED (
        SELECT * FROM public.workflow_steps(p_workflow_id)
    ), branch AS MATERIALIZED (
        SELECT * FROM public.workflow_branches(p_workflow_id)
    ), unentered AS (  -- steps that no branch of another step leads to
        SELECT step.* FROM step
         WHERE NOT EXISTS (SELECT FROM branch WHERE branch.next_conversation_id = step.conversation_id
                                                AND branch.conversation_id <> step.conversation_id)
    ), handler AS (
        SELECT c.conversation_id FROM public.conversations AS c
         WHERE c.conversation_type = 'error_handler' AND c.enabled
    )
    SELECT 'visit_limit', step.canonical_name,
           format('the loop back to %s is bounded already by the engine''s limit for a step without '
                  'max_visits (25 visits): this writes the limit down', step.canonical_name),
           format('UPDATE public.workflow_conversations SET max_visits = 25 WHERE workflow_id = %s AND '
                  'conversation_id = %s', p_workflow_id, step.conversation_id)
      FROM finding JOIN step ON step.canonical_name = finding.conversation
     WHERE finding.check_name = 'unbounded_loop'
    UNION ALL
    SELECT 'entry_point', unentered.canonical_name,
           format('no step is an entry point, and %s is the only step no other step''s branch leads to',
                  unentered.canonical_name),
           format('UPDATE public.workflow_conversations SET is_entry_point = true WHERE workflow_id = %s AND '
                  'conversation_id = %s', p_workflow_id, unentered.conversation_id)
      FROM unentered
     WHERE EXISTS (SELECT FROM finding WHERE finding.check_name = 'entry_point_missing')
       AND (SELECT count(*) FROM unentered) = 1
    UNION ALL
    SELECT 'fallback_branch', step.canonical_name,
           format('outputs of %s that match none of its branches go to the error handler already; a ''*'' '
                  'branch to it, tried last, says so', step.canonical_name),
           format('INSERT INTO public.instruction_steps (instruction_id, branch_condition, next_conversation_id, '
                  'branch_priority) VALUES (%s, %L, %s, %s)', instruction.instruction_id, '*',
                  handler.conversation_id,
                  (SELECT max(b.branch_priority) + 1 FROM public.instruction_steps AS b
                    WHERE b.instruction_id = instruction.instruction_id))
      FROM finding
      JOIN step ON step.canonical_name = finding.conversation
      JOIN public.instructions AS instruction ON instruction.conversation_id = step.conversation_id AND instruction.enabled
     CROSS JOIN handler
     WHERE finding.check_name = 'no_fallback_branch'
       AND NOT EXISTS (SELECT FROM finding WHERE finding.check_name = 'instruction_ambiguous')
    UNION ALL
    SELECT 'duplicate_branch', later.canonical_name,
           format('branch %s of %s repeats the condition %L of branch %s, which is tried first: it never matches',
                  later.instruction_step_id, later.canonical_name, later.branch_condition, earlier.instruction_step_id),
           format('UPDATE public.instruction_steps SET enabled = false WHERE instruction_step_id = %s',
                  later.instruction_step_id)
      FROM branch AS later
      JOIN LATERAL (SELECT b.instruction_step_id FROM branch AS b
                     WHERE b.conversation_id = later.conversation_id AND b.branch_condition = later.branch_condition
                       AND b.branch_rank < later.branch_rank
                     ORDER BY b.branch_rank LIMIT 1) AS earlier ON true;
$function$;
