-- posting_counts(): postings in all, complete (no stage missing), quarantined, disabled, and pending
-- (what a run would route), as posting_stages() defines them. A posting can be in several of the
-- middle three (a disabled posting may be complete): each count counts a posting once.
CREATE OR REPLACE FUNCTION public.posting_counts()
RETURNS TABLE (total integer, complete integer, quarantined integer, disabled integer, pending integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT count(*)::integer,
           count(*) FILTER (WHERE stage.missing_stage IS NULL)::integer,
           count(*) FILTER (WHERE stage.quarantined)::integer,
           count(*) FILTER (WHERE NOT stage.enabled)::integer,
           count(*) FILTER (WHERE stage.pending)::integer
      FROM public.posting_stages() AS stage;
$function$;
