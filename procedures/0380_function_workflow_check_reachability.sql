-- Check: every step can be reached from an entry point by following branches.
CREATE OR REPLACE FUNCTION public.workflow_check_reachability(p_workflow_id integer)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    WITH RECURSIVE edge AS (
        SELECT DISTINCT branch.conversation_id AS source, branch.next_conversation_id AS target
          FROM public.workflow_branches(p_workflow_id) AS branch
         WHERE branch.target_kind = 'step'
    ), reached (conversation_id) AS (
        SELECT step.conversation_id FROM public.workflow_steps(p_workflow_id) AS step WHERE step.is_entry_point
        UNION
        SELECT edge.target FROM reached JOIN edge ON edge.source = reached.conversation_id
    )
    SELECT 'error', 'unreachable', step.canonical_name,
           format('conversation %s (execution_order %s) cannot be reached from any entry point: add a '
                  'branch to it, make it an entry point, or disable it in the workflow',
                  step.canonical_name, step.execution_order)
      FROM public.workflow_steps(p_workflow_id) AS step
     WHERE EXISTS (SELECT 1 FROM public.workflow_steps(p_workflow_id) AS entry WHERE entry.is_entry_point)
       AND step.conversation_id NOT IN (SELECT reached.conversation_id FROM reached);
$function$;
