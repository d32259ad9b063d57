-- posting_entry_points(workflow_id): where each pending posting enters the workflow (stage routing).
-- A posting is pending while one of its stage columns (stages.posting_column) is NULL; it enters at
-- the entry point of its first missing stage (lowest stage_order), as workflow_stage_entries() says.
-- entry_conversation_id is NULL when no entry point serves that stage: such a posting cannot be routed.
-- The stages are compiled into one CASE expression (columns as quoted identifiers), so routing reads
-- each posting once.
CREATE OR REPLACE FUNCTION public.posting_entry_points(p_workflow_id integer)
RETURNS TABLE (posting_id bigint, entry_stage text, entry_conversation_id integer)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    first_missing text;
BEGIN
    SELECT 'CASE ' || string_agg(format('WHEN posting.%I IS NULL THEN %L', stage.posting_column, stage.stage_name),
                                 ' ' ORDER BY stage.stage_order) || ' END'
      INTO first_missing
      FROM public.stages AS stage;
    IF first_missing IS NULL THEN
        RETURN;  -- no stages: nothing is ever pending
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT missing.posting_id, missing.stage_name, route.entry_conversation_ids[1]
           FROM (SELECT posting.posting_id, %s AS stage_name
                   FROM public.postings AS posting
                  WHERE posting.enabled AND posting.quarantined_at IS NULL) AS missing
           JOIN public.workflow_stage_entries($1) AS route ON route.stage_name = missing.stage_name',
        first_missing)
    USING p_workflow_id;
END;
$function$;
