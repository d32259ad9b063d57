-- heartbeat(run_id, worker, claim_tokens): a live worker extends the leases of the claims it holds
-- (while its actors run) and says it is alive. Returns how many leases it extended; a claim that was
-- swept meanwhile is not extended (its result will be refused as stale).
CREATE OR REPLACE FUNCTION public.heartbeat(p_run_id bigint, p_worker text, p_claim_tokens uuid[])
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    -- claim rows first, then the worker: the order in which complete_chunk() and start_run() lock them
    WITH extended AS MATERIALIZED (
        UPDATE public.posting_work AS work
           SET lease_expires_at = now() + make_interval(secs => run.lease_seconds), updated_at = now()
          FROM public.workflow_runs AS run
         WHERE run.workflow_run_id = p_run_id AND work.workflow_run_id = p_run_id
           AND work.status = 'claimed' AND work.claimed_by = p_worker
           AND work.claim_token = ANY (p_claim_tokens)
        RETURNING 1
    ), alive AS (
        UPDATE public.run_workers AS worker SET heartbeat_at = now()
         WHERE worker.workflow_run_id = p_run_id AND worker.worker_id = p_worker
           AND (SELECT count(*) FROM extended) >= 0
        RETURNING 1
    )
    SELECT count(*)::integer FROM extended WHERE (SELECT count(*) FROM alive) >= 0;
$function$;
