-- Check: a fallback saves what the step it stands in for saves. A step's [CIRCUIT_OPEN] or [TIMEOUT]
-- branch to another conversation whose actor is another one is a fallback (a second model serves
-- the posting while the first is unavailable); when the two save different stages (or one saves
-- none), a posting that fell back lacks the stage the later steps read (warning).
-- p_branches: see workflow_branch_list().
CREATE OR REPLACE FUNCTION public.workflow_check_fallbacks(
    p_workflow_id integer,
    p_branches public.workflow_branch[] DEFAULT NULL)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    SELECT 'warning', 'fallback_stage', branch.canonical_name,
           format('conversation %s falls back on %s to conversation %s (actor %s), which saves %s, not %s: '
                  'a posting that falls back has no %s for the steps after it',
                  branch.canonical_name, branch.branch_condition, fallback.canonical_name,
                  fallback_actor.actor_name, coalesce('stage ' || fallback.saves_stage, 'no stage'),
                  coalesce('stage ' || step.saves_stage, 'no stage'),
                  coalesce('stage ' || step.saves_stage, 'answer'))
      FROM public.workflow_branch_list(p_workflow_id, p_branches) AS branch
      JOIN public.conversations AS step ON step.conversation_id = branch.conversation_id
      JOIN public.conversations AS fallback ON fallback.conversation_id = branch.next_conversation_id
      JOIN public.actors AS fallback_actor ON fallback_actor.actor_id = fallback.actor_id
     WHERE branch.branch_condition IN ('[CIRCUIT_OPEN]', '[TIMEOUT]')
       AND branch.target_kind = 'step'  -- the error handler is no fallback
       AND fallback.actor_id IS DISTINCT FROM step.actor_id
       AND fallback.saves_stage IS DISTINCT FROM step.saves_stage;
$function$;
