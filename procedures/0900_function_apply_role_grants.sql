-- apply_role_grants(): give the two roles named in database_roles exactly what they may do, and
-- PUBLIC nothing in schema public; the lists below are the whole of it. Idempotent: every earlier
-- grant to the roles is revoked first, so a migration that changes a list calls it again.
--   worker: runs workflows. It executes the processor's entry points, all SECURITY DEFINER, so it
--           writes through them only; it reads the run's own rows (for /health) and the breakers.
--   reader: reads the reporting views and runs status, errors, report and validate_workflow.
-- Both may connect and use schema public; neither may create anything, temporary tables included
-- (TEMPORARY is revoked from PUBLIC here and granted to the migrating role, whose functions use one).
CREATE OR REPLACE FUNCTION public.apply_role_grants()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    worker CONSTANT name := (SELECT role_name FROM public.database_roles WHERE purpose = 'worker');
    reader CONSTANT name := (SELECT role_name FROM public.database_roles WHERE purpose = 'reader');
    -- what `turing run` calls: claims, completions, leases, the actor gates, alerts; and `turing cache clear`
    worker_functions CONSTANT text[] := ARRAY[
        'start_run(integer, text, boolean, bigint, integer, boolean)',
        'claim_chunk_v2(bigint, text, integer, integer)',
        'claim_chunk(bigint, text, integer)',
        'complete_chunk(bigint, text, jsonb)',
        'heartbeat(bigint, text, uuid[])',
        'release_claims(bigint, text, uuid[])',
        'stop_worker(bigint, text)',
        'worker_state(bigint, text)',
        'worker_lock(text)',
        'actor_admit(integer, text, integer, text, jsonb)',
        'actor_settle(uuid, integer, text, integer, jsonb, text)',
        'actor_settle_and_admit(uuid, integer, integer, text, integer, text, jsonb)',
        'clear_response_cache(text, boolean)',
        'cached_answers(integer, text[], jsonb)',
        'refresh_performance_views()',
        'raise_alert(text, jsonb)',
        'take_alerts(text, integer)',
        'record_alert_delivery(bigint, jsonb)'];
    -- what `turing status`, `errors`, `report`, `health` and `validate` (listing its fixes) call
    reader_functions CONSTANT text[] := ARRAY[
        'run_status(bigint)',
        'recent_errors(interval, bigint)',
        'workflow_fixes(integer)'];
    both_functions CONSTANT text[] := ARRAY[  -- a run's /health, /metrics and live report too
        'run_report(bigint)',
        'validate_workflow(integer)',
        'run_progress(bigint)',
        'run_summary(bigint)',
        'posting_counts()',
        'cron_status()',
        'response_cache_status()'];
    worker_relations CONSTANT text[] := ARRAY['workflow_runs', 'run_workers'];
    reader_relations CONSTANT text[] := ARRAY['run_overview', 'error_summary', 'actor_performance_summary',
                                              'actors'];
    both_relations CONSTANT text[] := ARRAY['circuit_breakers', 'alembic_version'];
    own_function regprocedure;
    item text;
BEGIN
    IF worker IS NULL OR reader IS NULL THEN
        RAISE EXCEPTION 'database_roles must name a worker and a reader role';
    END IF;
    FOR own_function IN
        SELECT proc.oid FROM pg_proc AS proc
         WHERE proc.pronamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT FROM pg_depend AS member  -- an extension's functions are its own
                            WHERE member.classid = 'pg_proc'::regclass AND member.objid = proc.oid
                              AND member.deptype = 'e')
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, %I, %I', own_function, worker, reader);
    END LOOP;
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I, %I', worker, reader);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I, %I', worker, reader);
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC, %I, %I', current_database(), worker, reader);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I, %I', current_database(), worker, reader);
    EXECUTE format('REVOKE CREATE ON SCHEMA public FROM PUBLIC, %I, %I', worker, reader);
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I, %I', worker, reader);

    FOREACH item IN ARRAY worker_functions || both_functions LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', ('public.' || item)::regprocedure, worker);
    END LOOP;
    FOREACH item IN ARRAY reader_functions || both_functions LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', ('public.' || item)::regprocedure, reader);
    END LOOP;
    FOREACH item IN ARRAY worker_relations || both_relations LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', ('public.' || item)::regclass, worker);
    END LOOP;
    FOREACH item IN ARRAY reader_relations || both_relations LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', ('public.' || item)::regclass, reader);
    END LOOP;
    -- a REVOKE by a role that may not revoke is only a warning: make sure each one took
    IF has_database_privilege(worker, current_database(), 'TEMPORARY, CREATE')
       OR has_database_privilege(reader, current_database(), 'TEMPORARY, CREATE')
       OR has_schema_privilege(worker, 'public', 'CREATE') OR has_schema_privilege(reader, 'public', 'CREATE') THEN
        RAISE EXCEPTION 'roles % and % can still create objects in database %', worker, reader, current_database()
            USING HINT = 'migrate as the database''s owner (or a superuser), whose REVOKE of TEMPORARY and CREATE '
                         'from PUBLIC takes effect';
    END IF;
END;
$function$;
