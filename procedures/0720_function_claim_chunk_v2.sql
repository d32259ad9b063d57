-- claim_chunk_v2(run_id, worker, max_postings, wave_in_flight): the next chunk of the current wave,
-- claimed in one statement and returned as one JSON document (NULL when there is nothing to claim):
--   {workflow_run_id, conversation_id, conversation, claim_token, lease_expires_at, lease_seconds, suspect,
--    actor: {actor_id, actor_name, actor_type, config, timeout_seconds, max_concurrency, policy},
--    postings: [{posting_id, attempt, prompt, context}, ...]}
-- wave_in_flight: the conversation of this worker's chunk whose completion is still being written.
-- When the current wave is another conversation, nothing is claimed (NULL): the worker waits for that
-- completion first, so that its postings join the next wave before that wave is chosen.
-- The wave is the waiting conversation with the lowest execution order (the error handler last), so
-- that one model serves all its postings before the next is loaded. Up to max_postings (capped at
-- 1000) of its waiting postings are locked with SKIP LOCKED — concurrent workers never claim the same
-- posting — and leased with the chunk's claim token (new for every claim, so a reclaimed posting's old
-- token is stale). Each posting carries its prompt, rendered by prompt_expression(), and its context:
-- the posting's columns (all but dedup_key) with the run, conversation, attempt, visit and last outcome.
-- The actor's policy is actors.policy (actor_policy(config, actor_type), stored when the row is
-- written): its retry, breaker and rate-limit settings with the defaults filled in. Expired claims of
-- the run are swept first. A run that is not running, and a worker that was stopped (taken over: its
-- claims went back to the pool), have nothing to claim (worker_state() says why).
CREATE OR REPLACE FUNCTION public.claim_chunk_v2(p_run_id bigint, p_worker text, p_max_postings integer DEFAULT 500,
                                                  p_wave_in_flight integer DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    run      public.workflow_runs;
    wave     integer;
    template text;
    columns  text;
    claim    text;
    chunk    json;
BEGIN
    SELECT * INTO run FROM public.workflow_runs AS r WHERE r.workflow_run_id = p_run_id;
    IF run.status IS DISTINCT FROM 'running' THEN
        RETURN NULL;  -- a finished run has nothing to claim (another worker may have just completed it)
    END IF;

    -- GUARD: a worker that was taken over claims nothing more (checked again after the claim)
    IF EXISTS (SELECT 1 FROM public.run_workers AS worker
                WHERE worker.workflow_run_id = p_run_id AND worker.worker_id = p_worker
                  AND worker.stopped_at IS NOT NULL) THEN
        RETURN NULL;
    END IF;

    -- HOUSEKEEPING: expired leases, and the claims of dead workers, return to the pool
    PERFORM public.sweep_expired_claims(p_run_id);

    -- WAVE: the waiting conversation that comes first (the error handler after every step)
    -- (a probe of the waiting index per step, in order: as an EXISTS the planner hashed every waiting
    -- row of the run instead, 2 ms for 10,000 at every claim)
    SELECT step.conversation_id INTO wave
      FROM public.workflow_conversations AS step
     WHERE step.workflow_id = run.workflow_id
       AND (SELECT true FROM public.posting_work AS work
             WHERE work.workflow_run_id = p_run_id AND work.conversation_id = step.conversation_id
               AND work.status = 'waiting' AND (work.not_before IS NULL OR work.not_before <= now())
             LIMIT 1)
     ORDER BY step.execution_order
     LIMIT 1;
    IF wave IS NULL THEN
        SELECT work.conversation_id INTO wave
          FROM public.posting_work AS work
         WHERE work.workflow_run_id = p_run_id AND work.status = 'waiting'
           AND (work.not_before IS NULL OR work.not_before <= now())
         LIMIT 1;
    END IF;
    IF wave IS NULL OR wave IS DISTINCT FROM coalesce(p_wave_in_flight, wave) THEN
        RETURN NULL;
    END IF;
    SELECT instruction.prompt_template INTO template
      FROM public.instructions AS instruction
     WHERE instruction.conversation_id = wave AND instruction.enabled;
    IF template IS NULL OR NOT EXISTS (SELECT 1 FROM public.conversations AS conversation
                                         JOIN public.actors AS actor ON actor.actor_id = conversation.actor_id
                                        WHERE conversation.conversation_id = wave) THEN
        -- validate_workflow() refused this at the start; the definition changed during the run
        RAISE EXCEPTION 'conversation % has no % since the run started: nothing was claimed',
                        (SELECT c.canonical_name FROM public.conversations AS c WHERE c.conversation_id = wave),
                        CASE WHEN template IS NULL THEN 'enabled instruction' ELSE 'actor' END
            USING HINT = format('fix it (SELECT * FROM validate_workflow(%s) shows what is wrong), then run again',
                                run.workflow_id),
                  ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT string_agg(format('posting.%I', posting_column.column_name), ', ' ORDER BY posting_column.column_position)
      INTO columns
      FROM public.posting_columns() AS posting_column
     WHERE posting_column.column_name <> 'dedup_key';

    -- CLAIM: lock, lease and render in one statement. The locked rows are updated by their row
    -- address (a TID scan): a join on the key let the planner scan the whole work table instead.
    -- Postings reclaimed twice (their workers died holding them) are suspects: they are claimed only
    -- when no other posting of the wave waits, one per chunk, so that a poison posting that kills its
    -- worker takes no other posting down with it again. (Once is not suspicion enough: every posting
    -- a killed worker held is reclaimed once, and running them one by one would cost the wave's speed.)
    claim := format($claim$
        WITH picked AS (
            SELECT work.ctid
              FROM public.posting_work AS work
             WHERE work.workflow_run_id = $1 AND work.conversation_id = $2 AND work.status = 'waiting'
               AND (work.reclaims >= 2) = $7 AND (work.not_before IS NULL OR work.not_before <= now())
             ORDER BY work.posting_id
             LIMIT CASE WHEN $7 THEN 1 ELSE $3 END
               FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE public.posting_work AS work
               SET status = 'claimed', claim_token = $4, claimed_by = $5, lease_expires_at = $6,
                   attempt = work.attempt + 1, updated_at = now()
             WHERE work.ctid = ANY (ARRAY(SELECT picked.ctid FROM picked))
            RETURNING work.posting_id, work.attempt, work.visits, work.last_outcome
        )
        SELECT json_build_object(
                   'workflow_run_id', $1, 'conversation_id', conversation.conversation_id,
                   'conversation', conversation.canonical_name, 'claim_token', $4, 'lease_expires_at', $6,
                   'lease_seconds', $8, 'suspect', $7,
                   'actor', json_build_object(
                       'actor_id', actor.actor_id, 'actor_name', actor.actor_name, 'actor_type', actor.actor_type,
                       'config', actor.config, 'timeout_seconds', actor.timeout_seconds,
                       'max_concurrency', actor.max_concurrency, 'policy', actor.policy),
                   'postings', (
                       SELECT json_agg(json_build_object(
                                  'posting_id', claimed.posting_id, 'attempt', claimed.attempt, 'prompt', %1$s,
                                  'context', (SELECT row_to_json(context) FROM (
                                      SELECT %2$s, $1 AS workflow_run_id, conversation.canonical_name AS conversation,
                                             claimed.attempt AS attempt,
                                             coalesce((claimed.visits ->> $2::text)::integer, 1) AS visit,
                                             claimed.last_outcome AS last_outcome) AS context))
                                  ORDER BY claimed.posting_id)
                         FROM claimed JOIN public.postings AS posting ON posting.posting_id = claimed.posting_id))
          FROM public.conversations AS conversation
          JOIN public.actors AS actor ON actor.actor_id = conversation.actor_id
         WHERE conversation.conversation_id = $2
        $claim$, public.prompt_expression(template), columns);
    EXECUTE claim INTO chunk
    USING p_run_id, wave, least(greatest(p_max_postings, 1), 1000), gen_random_uuid(), p_worker,
          now() + make_interval(secs => run.lease_seconds), false, run.lease_seconds;
    IF chunk ->> 'postings' IS NULL THEN  -- no posting above suspicion waits: one suspect alone
        EXECUTE claim INTO chunk
        USING p_run_id, wave, 1, gen_random_uuid(), p_worker, now() + make_interval(secs => run.lease_seconds), true,
              run.lease_seconds;
    END IF;
    IF chunk ->> 'postings' IS NULL THEN
        RETURN NULL;  -- other workers hold every waiting posting of the wave
    END IF;

    -- GUARD, again, after the claim rows (the lock order: claim rows, then the worker): a takeover
    -- that committed meanwhile undoes this claim
    UPDATE public.run_workers AS worker SET heartbeat_at = now()
     WHERE worker.workflow_run_id = p_run_id AND worker.worker_id = p_worker AND worker.stopped_at IS NULL;
    IF NOT FOUND AND EXISTS (SELECT 1 FROM public.run_workers AS worker
                              WHERE worker.workflow_run_id = p_run_id AND worker.worker_id = p_worker) THEN
        RAISE EXCEPTION 'worker % of run % was taken over: nothing was claimed', p_worker, p_run_id
            USING ERRCODE = 'TD002';
    END IF;
    RETURN chunk;
END;
$function$;
