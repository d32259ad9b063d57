-- workflow_executed(workflow_id): every conversation a run of the workflow may execute — its steps,
-- and the global error handler (when it is enabled and the workflow has steps).
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.workflow_executed(p_workflow_id integer)
RETURNS TABLE (conversation_id integer, canonical_name text, actor_id integer, is_handler boolean)
LANGUAGE sql
STABLE
AS $function$
    SELECT step.conversation_id, step.canonical_name, step.actor_id, false
      FROM public.workflow_steps(p_workflow_id) AS step
    UNION ALL
    SELECT handler.conversation_id, handler.canonical_name, handler.actor_id, true
      FROM public.conversations AS handler
     WHERE handler.conversation_type OPERATOR(pg_catalog.=) 'error_handler' AND handler.enabled
       AND EXISTS (SELECT 1 FROM public.workflow_steps(p_workflow_id));
$function$;
