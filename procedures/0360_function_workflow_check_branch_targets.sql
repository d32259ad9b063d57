-- Check: every branch leads to the end (NULL), to a step of this workflow, or to the enabled global
-- error handler — never to a disabled conversation or one outside the workflow.
-- p_branches: see workflow_branch_list().
CREATE OR REPLACE FUNCTION public.workflow_check_branch_targets(
    p_workflow_id integer,
    p_branches public.workflow_branch[] DEFAULT NULL)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    SELECT 'error', 'branch_target', branch.canonical_name,
           format('branch %s (%s) of conversation %s leads to %s (conversation_id %s), which %s',
                  branch.instruction_step_id, quote_literal(branch.branch_condition), branch.canonical_name,
                  target.canonical_name, target.conversation_id,
                  CASE
                      WHEN NOT target.enabled THEN 'is disabled'
                      WHEN NOT EXISTS (SELECT 1 FROM public.workflow_conversations AS member
                                        WHERE member.workflow_id = p_workflow_id
                                          AND member.conversation_id = target.conversation_id)
                          THEN format('is not part of workflow %s', p_workflow_id)
                      ELSE format('is disabled in workflow %s', p_workflow_id)
                  END)
      FROM public.workflow_branch_list(p_workflow_id, p_branches) AS branch
      JOIN public.conversations AS target ON target.conversation_id = branch.next_conversation_id
     WHERE branch.target_kind = 'invalid';
$function$;
