-- workflow_steps(workflow_id): the conversations a workflow runs — enabled in the workflow and
-- enabled themselves — with their actor and entry flags. The global error handler is not a step.
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.workflow_steps(p_workflow_id integer)
RETURNS TABLE (conversation_id integer, canonical_name text, execution_order integer, is_entry_point boolean,
               entry_stage text, max_visits integer, actor_id integer)
LANGUAGE sql
STABLE
AS $function$
    SELECT step.conversation_id, conversation.canonical_name, step.execution_order, step.is_entry_point,
           step.entry_stage, step.max_visits, conversation.actor_id
      FROM public.workflow_conversations AS step
      JOIN public.conversations AS conversation ON conversation.conversation_id = step.conversation_id
     WHERE step.workflow_id = p_workflow_id
       AND step.enabled
       AND conversation.enabled
       AND conversation.conversation_type <> 'error_handler';
$function$;
