-- run_progress(run_id): how many postings of the run are waiting, claimed, done, failed, quarantined.
CREATE OR REPLACE FUNCTION public.run_progress(p_run_id bigint)
RETURNS TABLE (waiting integer, claimed integer, done integer, failed integer, quarantined integer)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT count(*) FILTER (WHERE work.status = 'waiting')::integer,
           count(*) FILTER (WHERE work.status = 'claimed')::integer,
           count(*) FILTER (WHERE work.status = 'done')::integer,
           count(*) FILTER (WHERE work.status = 'failed')::integer,
           count(*) FILTER (WHERE work.status = 'quarantined')::integer
      FROM public.posting_work AS work
     WHERE work.workflow_run_id = p_run_id;
$function$;
