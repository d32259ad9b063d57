-- worker_is_live(worker row, lease_seconds): a worker that has not stopped, whose heartbeat (claims,
-- completions and heartbeats refresh it, at least every third of the lease) is within the lease, and
-- whose liveness lock (worker_alive()) is held, when it holds one (a worker of a version before
-- migration 0008 does not). The lock says at once that a process died; the heartbeat bounds how long
-- a lock can outlive its host (a backend whose client vanished, a reboot the server did not see).
CREATE OR REPLACE FUNCTION public.worker_is_live(p_worker public.run_workers, p_lease_seconds integer)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT p_worker.stopped_at IS NULL
       AND p_worker.heartbeat_at > now() - make_interval(secs => p_lease_seconds)
       AND (NOT p_worker.holds_lock OR public.worker_alive(p_worker.worker_id));
$function$;
