-- posting_entry_points(workflow_id): where each pending posting enters the workflow: at the entry
-- point of its first missing stage (both as posting_stage_expressions() defines them), as
-- workflow_stage_entries() says. entry_conversation_id is NULL when no entry point serves that stage:
-- such a posting cannot be routed. The expressions are compiled into the query, so routing reads each
-- posting once.
CREATE OR REPLACE FUNCTION public.posting_entry_points(p_workflow_id integer)
RETURNS TABLE (posting_id bigint, entry_stage text, entry_conversation_id integer)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
-- plpgsql_check cannot follow dynamic SQL (it would warn "OUT variable is maybe unmodified"):
-- @plpgsql_check_options: extra_warnings = false
DECLARE
    stage record;
BEGIN
    SELECT * INTO stage FROM public.posting_stage_expressions();
    RETURN QUERY EXECUTE format(
        'SELECT missing.posting_id, missing.stage_name, route.entry_conversation_ids[1]
           FROM (SELECT posting.posting_id, %s AS stage_name
                   FROM public.postings AS posting
                  WHERE %s) AS missing
           JOIN public.workflow_stage_entries($1) AS route ON route.stage_name = missing.stage_name',
        stage.missing_stage, stage.pending)
    USING p_workflow_id;
END;
$function$;
