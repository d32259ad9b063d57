-- max_failed_runs(): how many runs may fail a posting (end it after the error handler) before later
-- runs leave it out, until retry_postings() puts it back: the setting turing.max_failed_runs
-- (ALTER DATABASE … SET turing.max_failed_runs = 5, or SET for a session), 3 when not set.
CREATE OR REPLACE FUNCTION public.max_failed_runs()
RETURNS integer
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT coalesce(nullif(current_setting('turing.max_failed_runs', true), '')::integer, 3);
$function$;
