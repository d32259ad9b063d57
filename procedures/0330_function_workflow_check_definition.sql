-- Check: the workflow exists, is enabled, and has enabled conversations.
CREATE OR REPLACE FUNCTION public.workflow_check_definition(p_workflow_id integer)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    SELECT 'error', 'workflow_missing', NULL::text,
           format('workflow %s does not exist (no row in workflows)', p_workflow_id)
     WHERE NOT EXISTS (SELECT 1 FROM public.workflows WHERE workflow_id = p_workflow_id)
    UNION ALL
    SELECT 'error', 'workflow_disabled', NULL,
           format('workflow %s (%s) is disabled: UPDATE workflows SET enabled = true WHERE workflow_id = %s',
                  workflow.workflow_id, workflow.workflow_name, workflow.workflow_id)
      FROM public.workflows AS workflow
     WHERE workflow.workflow_id = p_workflow_id AND NOT workflow.enabled
    UNION ALL
    SELECT 'error', 'no_conversations', NULL,
           format('workflow %s (%s) has no enabled conversations: add workflow_conversations rows whose '
                  'conversation is enabled', workflow.workflow_id, workflow.workflow_name)
      FROM public.workflows AS workflow
     WHERE workflow.workflow_id = p_workflow_id
       AND NOT EXISTS (SELECT 1 FROM public.workflow_steps(p_workflow_id));
$function$;
