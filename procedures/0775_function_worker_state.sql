-- worker_state(run_id, worker): what a worker that found nothing to claim does next, and why:
--   next_step 'wait'       postings of the run are waiting or claimed by others: claim again soon;
--             'done'       nothing of the run is waiting or claimed: stop;
--             'taken_over' this worker was stopped (another start took the run over): stop;
--             'run_ended'  the run is no longer running: stop;
-- with the run's status, whether this worker was stopped, and how many postings wait or are claimed.
-- First, the claims of the run's workers that died (no liveness session, no heartbeat for 40 s: a live
-- worker beats every 30 s, so one whose session only dropped is not robbed) go
-- back to the pool (expire_dead_workers_claims(), sweep_expired_claims()): the live workers take over
-- a dead host's work as soon as they are idle, not at the minutely sweep.
CREATE OR REPLACE FUNCTION public.worker_state(p_run_id bigint, p_worker text)
RETURNS TABLE (run_status text, worker_stopped boolean, waiting integer, claimed integer, next_step text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
BEGIN
    IF public.expire_dead_workers_claims(p_run_id, interval '40 seconds') > 0 THEN
        PERFORM public.sweep_expired_claims(p_run_id);
    END IF;
    RETURN QUERY
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
END;
$function$;
