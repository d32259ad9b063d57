-- worker_state(run_id, worker): what a worker that found nothing to claim needs to decide whether to
-- wait or stop: the run's status, whether this worker was stopped (taken over by another start), and
-- how many postings of the run are waiting or claimed (by anyone).
CREATE OR REPLACE FUNCTION public.worker_state(p_run_id bigint, p_worker text)
RETURNS TABLE (run_status text, worker_stopped boolean, waiting integer, claimed integer)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT run.status,
           coalesce((SELECT worker.stopped_at IS NOT NULL FROM public.run_workers AS worker
                      WHERE worker.workflow_run_id = p_run_id AND worker.worker_id = p_worker), true),
           progress.waiting, progress.claimed
      FROM public.workflow_runs AS run
     CROSS JOIN LATERAL public.run_progress(run.workflow_run_id) AS progress
     WHERE run.workflow_run_id = p_run_id;
$function$;
