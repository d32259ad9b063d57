-- stop_worker(run_id, worker): the worker leaves the run. When nothing of the run is waiting or claimed
-- any more, the run is completed. Returns the run's status.
CREATE OR REPLACE FUNCTION public.stop_worker(p_run_id bigint, p_worker text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    status text;
BEGIN
    -- LOCK the run first, as start_run() does (the other order deadlocked against a takeover)
    PERFORM FROM public.workflow_runs AS run WHERE run.workflow_run_id = p_run_id FOR UPDATE;
    UPDATE public.run_workers AS worker SET stopped_at = now(), heartbeat_at = now()
     WHERE worker.workflow_run_id = p_run_id AND worker.worker_id = p_worker;
    UPDATE public.workflow_runs AS run
       SET status = 'completed', finished_at = now(), heartbeat_at = now()
     WHERE run.workflow_run_id = p_run_id AND run.status = 'running'
       AND NOT EXISTS (SELECT 1 FROM public.posting_work AS work
                        WHERE work.workflow_run_id = p_run_id AND work.status IN ('waiting', 'claimed'));
    SELECT run.status INTO status FROM public.workflow_runs AS run WHERE run.workflow_run_id = p_run_id;
    RETURN status;
END;
$function$;
