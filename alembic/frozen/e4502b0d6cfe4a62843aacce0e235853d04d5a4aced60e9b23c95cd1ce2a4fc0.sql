-- posting_entry_points(workflow_id): where each pending posting enters the workflow (stage routing).
-- A posting is pending while one of its stage columns (stages.posting_column) is NULL; it enters at
-- the entry point of its first missing stage (lowest stage_order). entry_conversation_id is NULL when
-- the workflow has no enabled entry point for that stage: such a posting cannot be routed.
CREATE OR REPLACE FUNCTION public.posting_entry_points(p_workflow_id integer)
RETURNS TABLE (posting_id bigint, entry_stage text, entry_conversation_id integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT posting.posting_id, missing.stage_name, entry.conversation_id
      FROM public.postings AS posting
     CROSS JOIN LATERAL (
           SELECT stage.stage_name
             FROM public.stages AS stage
            WHERE to_jsonb(posting) ->> stage.posting_column IS NULL
            ORDER BY stage.stage_order
            LIMIT 1
           ) AS missing
      LEFT JOIN public.workflow_conversations AS entry
             ON entry.workflow_id = p_workflow_id
            AND entry.entry_stage = missing.stage_name
            AND entry.is_entry_point
            AND entry.enabled
     WHERE posting.enabled
       AND posting.quarantined_at IS NULL;
$function$;
