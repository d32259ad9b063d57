-- expire_dead_workers_claims(run_id, quiet): end the leases of the claims held by workers that died:
-- workers of a running run (of run_id, or of every run when NULL) whose liveness session is gone
-- (worker_alive()) and whose heartbeat is older than quiet (a live worker whose session just dropped
-- takes its lock again within seconds; one robbed meanwhile loses only work, its stale results are
-- refused). The next sweep_expired_claims() returns those claims to the pool. Called by the minutely
-- sweep (quiet: a minute) and by worker_state() for a worker that found nothing to claim (40 s: longer
-- than a live worker's heartbeat interval), so a host that died mid-run is taken over by the others
-- without waiting for the sweep. Returns how many claims it ended.
CREATE OR REPLACE FUNCTION public.expire_dead_workers_claims(p_run_id bigint, p_quiet interval)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    dead  text[];
    ended integer := 0;
BEGIN
    -- only workers that hold claims are looked for in pg_locks
    SELECT array_agg(worker.worker_id) INTO dead
      FROM public.run_workers AS worker
      JOIN public.workflow_runs AS run ON run.workflow_run_id = worker.workflow_run_id AND run.status = 'running'
     WHERE (p_run_id IS NULL OR worker.workflow_run_id = p_run_id)
       AND worker.holds_lock AND worker.stopped_at IS NULL
       AND worker.heartbeat_at < now() - p_quiet
       AND EXISTS (SELECT FROM public.posting_work AS work
                    WHERE work.workflow_run_id = worker.workflow_run_id AND work.status = 'claimed'
                      AND work.claimed_by = worker.worker_id)
       AND NOT public.worker_alive(worker.worker_id);
    IF dead IS NOT NULL THEN
        UPDATE public.posting_work AS work SET lease_expires_at = now() - interval '1 second'
         WHERE work.status = 'claimed' AND work.claimed_by = ANY (dead) AND work.lease_expires_at >= now()
           AND (p_run_id IS NULL OR work.workflow_run_id = p_run_id);
        GET DIAGNOSTICS ended = ROW_COUNT;
    END IF;
    RETURN ended;
END;
$function$;
