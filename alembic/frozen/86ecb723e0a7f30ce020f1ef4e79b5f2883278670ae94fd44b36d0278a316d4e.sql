-- worker_state(run_id, worker): what a worker that found nothing to claim does next, and why:
--   next_step 'wait'       postings of the run are waiting or claimed by others: claim again soon;
--             'done'       nothing of the run is waiting or claimed: stop;
--             'taken_over' this worker was stopped (another start took the run over): stop;
--             'run_ended'  the run is no longer running: stop;
-- with the run's status, whether this worker was stopped, and how many postings wait or are claimed.
CREATE OR REPLACE FUNCTION public.worker_state(p_run_id bigint, p_worker text)
RETURNS TABLE (run_status text, worker_stopped boolean, waiting integer, claimed integer, next_step text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT state.run_status, state.worker_stopped, state.waiting, state.claimed,
           CASE WHEN state.worker_stopped THEN 'taken_over'
                WHEN state.run_status <> 'running' THEN 'run_ended'
                WHEN state.waiting = 0 AND state.claimed = 0 THEN 'done'
                ELSE 'wait' END
      FROM (SELECT run.status AS run_status,
                   coalesce((SELECT worker.stopped_at IS NOT NULL FROM public.run_workers AS worker
                              WHERE worker.workflow_run_id = p_run_id AND worker.worker_id = p_worker), true)
                       AS worker_stopped,
                   progress.waiting, progress.claimed
              FROM public.workflow_runs AS run
             CROSS JOIN LATERAL public.run_progress(run.workflow_run_id) AS progress
             WHERE run.workflow_run_id = p_run_id) AS state;
$function$;
