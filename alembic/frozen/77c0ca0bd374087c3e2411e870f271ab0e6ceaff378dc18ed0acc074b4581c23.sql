-- refresh_performance_views(): bring the materialized reporting views up to date without blocking
-- their readers. Run by pg_cron (job 'refresh-actor-performance') and at the end of every run.
CREATE OR REPLACE FUNCTION public.refresh_performance_views()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $function$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY public.actor_performance_summary;
END;
$function$;
