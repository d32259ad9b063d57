-- posting_stages(): every posting with its first missing stage, and whether it is pending — the one
-- definition of "pending" that routing (posting_entry_points), posting_counts() and `turing status`
-- share. A stage is missing while its column (stages.posting_column) is NULL; the first missing one
-- is the lowest stage_order. A posting is pending when a stage is missing, it is enabled and it is
-- not quarantined. With no stages, nothing is missing. The stages are compiled into one CASE
-- expression (columns as quoted identifiers), so each posting is read once.
CREATE OR REPLACE FUNCTION public.posting_stages()
RETURNS TABLE (posting_id bigint, missing_stage text, enabled boolean, quarantined boolean, pending boolean)
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
    RETURN QUERY EXECUTE format(
        'SELECT stage.posting_id, stage.missing_stage, stage.enabled, stage.quarantined,
                stage.missing_stage IS NOT NULL AND stage.enabled AND NOT stage.quarantined
           FROM (SELECT posting.posting_id, %s AS missing_stage, posting.enabled,
                        posting.quarantined_at IS NOT NULL AS quarantined
                   FROM public.postings AS posting) AS stage',
        coalesce(first_missing, 'NULL::text'));
END;
$function$;
