-- max_failed_runs(): how many runs may fail a posting (end it after the error handler) before later
-- runs leave it out, until retry_postings() puts it back: the database's setting
-- turing.max_failed_runs (ALTER DATABASE … SET turing.max_failed_runs = 5), 3 when not set. Read
-- from the catalogue, not the session: a worker's own SET must not lift a quarantine.
CREATE OR REPLACE FUNCTION public.max_failed_runs()
RETURNS integer
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT coalesce((SELECT nullif(substr(setting, length('turing.max_failed_runs=') + 1), '')::integer
                       FROM pg_db_role_setting AS database_setting
                      CROSS JOIN unnest(database_setting.setconfig) AS setting
                      WHERE database_setting.setdatabase = (SELECT oid FROM pg_database
                                                             WHERE datname = current_database())
                        AND database_setting.setrole = 0
                        AND setting LIKE 'turing.max\_failed\_runs=%'), 3);
$function$;
