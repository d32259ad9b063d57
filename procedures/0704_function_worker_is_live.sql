-- worker_is_live(worker row, lease_seconds): a worker that has not stopped and is alive: by its
-- liveness lock (worker_alive()) when it holds one, else (a worker of a version before migration 0008)
-- by a heartbeat within the lease.
CREATE OR REPLACE FUNCTION public.worker_is_live(p_worker public.run_workers, p_lease_seconds integer)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT p_worker.stopped_at IS NULL
       AND CASE WHEN p_worker.holds_lock THEN public.worker_alive(p_worker.worker_id)
                ELSE p_worker.heartbeat_at > now() - make_interval(secs => p_lease_seconds) END;
$function$;
