-- posting_stages(): every posting with its first missing stage and whether it is pending, as
-- posting_stage_expressions() defines them: what posting_counts() and `turing status` count.
CREATE OR REPLACE FUNCTION public.posting_stages()
RETURNS TABLE (posting_id bigint, missing_stage text, enabled boolean, quarantined boolean, pending boolean)
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
        'SELECT posting.posting_id, %s, posting.enabled, posting.quarantined_at IS NOT NULL, %s
           FROM public.postings AS posting',
        stage.missing_stage, stage.pending);
END;
$function$;
