-- posting_counts(): postings in all, complete (no stage missing), quarantined, disabled, failed (left
-- out after max_failed_runs() failed runs, until retry_postings()), and pending (what a run would
-- route), as posting_stages() defines them. A posting can be in several of the middle four (a
-- disabled posting may be complete): each count counts a posting once.
CREATE OR REPLACE FUNCTION public.posting_counts()
RETURNS TABLE (total integer, complete integer, quarantined integer, disabled integer, failed integer,
               pending integer)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT count(*)::integer,
           count(*) FILTER (WHERE stage.missing_stage IS NULL)::integer,
           count(*) FILTER (WHERE stage.quarantined)::integer,
           count(*) FILTER (WHERE NOT stage.enabled)::integer,
           (SELECT count(*)::integer FROM public.postings AS posting WHERE posting.failed_runs >= (SELECT public.max_failed_runs())),
           count(*) FILTER (WHERE stage.pending)::integer
      FROM public.posting_stages() AS stage;
$function$;
