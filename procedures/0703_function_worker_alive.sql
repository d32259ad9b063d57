-- worker_alive(worker): is the worker's liveness session connected (does it hold worker_lock())?
-- pg_locks shows an advisory lock's two int4 keys as the oids classid and objid (objsubid 2).
CREATE OR REPLACE FUNCTION public.worker_alive(p_worker text)
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT EXISTS (
        SELECT 1
          FROM pg_catalog.pg_locks AS held, public.worker_lock(p_worker) AS wanted
         WHERE held.locktype = 'advisory' AND held.granted AND held.objsubid = 2
           AND held.database = (SELECT db.oid FROM pg_catalog.pg_database AS db WHERE db.datname = current_database())
           AND held.classid = (wanted.lock_space::bigint & 4294967295)::oid
           AND held.objid = (wanted.lock_key::bigint & 4294967295)::oid);
$function$;
