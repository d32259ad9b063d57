-- worker_lock(worker): the session-level advisory lock (two int4 keys) that a worker's liveness
-- session holds while its process lives. The lock vanishes the moment that session ends — a kill -9,
-- a reboot, a lost network — on whatever machine the worker ran, so worker_alive() can tell a dead
-- worker from a live one without waiting for a lease.
CREATE OR REPLACE FUNCTION public.worker_lock(p_worker text)
RETURNS TABLE (lock_space integer, lock_key integer)
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT hashtext('turing.worker'), hashtext(p_worker);
$function$;
