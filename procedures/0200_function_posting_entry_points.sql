-- posting_entry_points(workflow_id): where each pending posting enters the workflow (stage routing).
-- A posting is pending while one of its stage columns (stages.posting_column) is NULL; it enters at
-- the entry point of its first missing stage (lowest stage_order), as workflow_stage_entries() says.
-- entry_conversation_id is NULL when no entry point serves that stage: such a posting cannot be routed.
CREATE OR REPLACE FUNCTION public.posting_entry_points(p_workflow_id integer)
RETURNS TABLE (posting_id bigint, entry_stage text, entry_conversation_id integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT posting.posting_id, missing.stage_name, route.entry_conversation_ids[1]
      FROM public.postings AS posting
     CROSS JOIN LATERAL (
           SELECT stage.stage_name
             FROM public.stages AS stage
            WHERE to_jsonb(posting) ->> stage.posting_column IS NULL
            ORDER BY stage.stage_order
            LIMIT 1
           ) AS missing
      JOIN public.workflow_stage_entries(p_workflow_id) AS route ON route.stage_name = missing.stage_name
     WHERE posting.enabled
       AND posting.quarantined_at IS NULL;
$function$;
