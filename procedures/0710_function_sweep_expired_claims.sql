-- sweep_expired_claims(run_id): return the claims whose lease has expired (their worker died or hung)
-- to the pool. A posting reclaimed more than the run's max_reclaims times is a poison pill: it is
-- quarantined (postings.quarantined_at and quarantine_reason) instead of being tried again. Runs at
-- every claim for that run, and from pg_cron every minute for all runs (job 'sweep-expired-claims'),
-- when it also returns the claims of workers whose liveness session is gone (worker_alive()) and whose
-- heartbeat is a minute old (expire_dead_workers_claims()): one dead process of a run that others go
-- on with need not wait out the lease (worker_state() takes over sooner, once the others are idle;
-- start_run() takes over a run whose workers are all dead at once). Returns how many it swept.
CREATE OR REPLACE FUNCTION public.sweep_expired_claims(p_run_id bigint DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    swept_count integer;
BEGIN
    -- DEAD WORKERS (the minutely sweep only, not at every claim: it reads pg_locks per worker)
    IF p_run_id IS NULL THEN
        PERFORM public.expire_dead_workers_claims(NULL, interval '1 minute');
    END IF;

    -- EXPIRED claims return to the pool, or quarantine a posting reclaimed too often
    WITH expired AS (
        SELECT work.workflow_run_id, work.posting_id, work.conversation_id
          FROM public.posting_work AS work
         WHERE work.status = 'claimed'
           AND work.lease_expires_at < now()
           AND (p_run_id IS NULL OR work.workflow_run_id = p_run_id)
         FOR UPDATE OF work SKIP LOCKED
    ), swept AS (
        UPDATE public.posting_work AS work
           SET status = CASE WHEN work.reclaims + 1 > run.max_reclaims THEN 'quarantined' ELSE 'waiting' END,
               conversation_id = CASE WHEN work.reclaims + 1 > run.max_reclaims THEN NULL ELSE work.conversation_id END,
               reclaims = work.reclaims + 1,
               attempt = work.attempt - 1,
               claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL, updated_at = now()
          FROM expired, public.workflow_runs AS run
         WHERE work.workflow_run_id = expired.workflow_run_id AND work.posting_id = expired.posting_id
           AND run.workflow_run_id = work.workflow_run_id
        RETURNING work.workflow_run_id, work.posting_id, work.status, work.reclaims, expired.conversation_id
    ), quarantined AS (
        UPDATE public.postings AS posting
           SET quarantined_at = now(), updated_at = now(),
               quarantine_reason = format('claimed %s times in run %s without a result (its worker died or '
                                          'hung each time); last at conversation %s', swept.reclaims,
                                          swept.workflow_run_id, conversation.canonical_name)
          FROM swept LEFT JOIN public.conversations AS conversation
                      ON conversation.conversation_id = swept.conversation_id
         WHERE posting.posting_id = swept.posting_id AND swept.status = 'quarantined'
        RETURNING posting.posting_id
    ), checkpoint AS (
        INSERT INTO public.posting_state_checkpoints
               (workflow_run_id, posting_id, conversation_id, state, next_conversation_id, note)
        SELECT swept.workflow_run_id, swept.posting_id, swept.conversation_id,
               CASE swept.status WHEN 'quarantined' THEN 'quarantined' ELSE 'reclaimed' END,
               CASE swept.status WHEN 'quarantined' THEN NULL ELSE swept.conversation_id END,
               format('lease expired (reclaim %s)', swept.reclaims)
          FROM swept
    )
    -- data-modifying CTEs run to completion whether or not the final query reads them
    SELECT count(*)::integer INTO swept_count FROM swept;
    RETURN swept_count;
END;
$function$;
