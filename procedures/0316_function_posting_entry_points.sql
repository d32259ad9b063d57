-- posting_entry_points(workflow_id): where each pending posting (posting_stages()) enters the
-- workflow: at the entry point of its first missing stage, as workflow_stage_entries() says.
-- entry_conversation_id is NULL when no entry point serves that stage: such a posting cannot be routed.
CREATE OR REPLACE FUNCTION public.posting_entry_points(p_workflow_id integer)
RETURNS TABLE (posting_id bigint, entry_stage text, entry_conversation_id integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT stage.posting_id, stage.missing_stage, route.entry_conversation_ids[1]
      FROM public.posting_stages() AS stage
      JOIN public.workflow_stage_entries(p_workflow_id) AS route ON route.stage_name = stage.missing_stage
     WHERE stage.pending;
$function$;
