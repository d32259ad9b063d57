-- workflow_stage_entries(workflow_id): for every stage, the entry point(s) a posting lacking that stage
-- enters at. An entry point with entry_stage = the stage wins; an entry point without a stage is the
-- default for stages that have none of their own. Exactly one per stage is valid; validate_workflow()
-- reports the others, posting_entry_points() routes by the first.
CREATE OR REPLACE FUNCTION public.workflow_stage_entries(p_workflow_id integer)
RETURNS TABLE (stage_name text, entry_conversation_ids integer[])
LANGUAGE sql
STABLE
ROWS 20
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH entry AS (
        SELECT step.conversation_id, step.execution_order, step.entry_stage
          FROM public.workflow_conversations AS step
          JOIN public.conversations AS conversation
            ON conversation.conversation_id = step.conversation_id AND conversation.enabled
         WHERE step.workflow_id = p_workflow_id
           AND step.enabled
           AND step.is_entry_point
    )
    SELECT stage.stage_name,
           coalesce(own.ids, fallback.ids, '{}')
      FROM public.stages AS stage
     CROSS JOIN LATERAL (
           SELECT array_agg(entry.conversation_id ORDER BY entry.execution_order) AS ids
             FROM entry WHERE entry.entry_stage = stage.stage_name
           ) AS own
     CROSS JOIN (
           SELECT array_agg(entry.conversation_id ORDER BY entry.execution_order) AS ids
             FROM entry WHERE entry.entry_stage IS NULL
           ) AS fallback
     ORDER BY stage.stage_order;
$function$;
