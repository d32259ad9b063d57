-- posting_stage_expressions(): the one definition of a posting's first missing stage and of
-- "pending", as SQL expressions over a row of postings aliased `posting`, for the functions that
-- compile them into their queries (posting_stages, posting_entry_points): routing reads each posting
-- once instead of joining a set of them.
--   missing_stage: the stage_name of the first (lowest stage_order) stage whose column
--                  (stages.posting_column) is NULL; NULL when none is (or there are no stages).
--   pending:       a stage is missing, the posting is enabled, it is not quarantined, and fewer than
--                  max_failed_runs() runs have failed it.
CREATE OR REPLACE FUNCTION public.posting_stage_expressions()
RETURNS TABLE (missing_stage text, pending text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH missing AS (
        SELECT coalesce('CASE ' || string_agg(format('WHEN posting.%I IS NULL THEN %L', stage.posting_column,
                                                     stage.stage_name), ' ' ORDER BY stage.stage_order) || ' END',
                        'NULL::text') AS expression
          FROM public.stages AS stage
    )
    SELECT missing.expression,
           -- the limit as a literal: a function call would run once per posting (it cannot be inlined)
           format('(%s) IS NOT NULL AND posting.enabled AND posting.quarantined_at IS NULL '
                  'AND posting.failed_runs < %s', missing.expression, public.max_failed_runs())
      FROM missing;
$function$;
