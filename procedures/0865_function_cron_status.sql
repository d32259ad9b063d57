-- cron_status(): what `turing health` checks of pg_cron, for a role that may not read it itself
-- (cron.database_name is a superuser's setting, cron.job shows a role its own jobs only):
--   {"database_name": the database pg_cron runs in (null when this role may not read it),
--    "jobs": {jobname: {"schedule", "active", "last_run": "succeeded at …" | null}}}
-- for the jobs of the role that owns this function (the migrations'); "jobs" is {} without pg_cron.
CREATE OR REPLACE FUNCTION public.cron_status()
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    database_name text;
    jobs jsonb := '{}'::jsonb;
BEGIN
    BEGIN
        database_name := current_setting('cron.database_name', true);
    EXCEPTION WHEN insufficient_privilege THEN
        database_name := NULL;  -- the owner is no superuser and lacks pg_read_all_settings
    END;
    IF to_regclass('cron.job') IS NOT NULL THEN
        EXECUTE $query$
            SELECT coalesce(jsonb_object_agg(job.jobname, jsonb_build_object(
                       'schedule', job.schedule, 'active', job.active,
                       'last_run', (SELECT detail.status || ' at ' || date_trunc('second', detail.end_time)
                                      FROM cron.job_run_details AS detail
                                     WHERE detail.jobid = job.jobid
                                     ORDER BY detail.runid DESC LIMIT 1))), '{}')
              FROM cron.job AS job
        $query$ INTO jobs;
    END IF;
    RETURN jsonb_build_object('database_name', database_name, 'jobs', jobs);
END;
$function$;
