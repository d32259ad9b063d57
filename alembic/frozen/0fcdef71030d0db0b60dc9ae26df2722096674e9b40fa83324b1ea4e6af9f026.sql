-- claim_chunk(run_id, worker, max_postings): the next chunk of the current wave, claimed in one
-- statement. The wave is the waiting conversation with the lowest execution order (the error handler
-- last), so that one model serves all its postings before the next is loaded. Up to max_postings
-- (capped at 1000) of its waiting postings are locked with SKIP LOCKED — concurrent workers never
-- claim the same posting — and leased: each gets the chunk's claim token (new for every claim, so a
-- reclaimed posting's old token is stale) and a lease expiry. Each row carries
-- the rendered prompt, the actor to run, the attempt number, and the posting's fields as context.
-- Expired claims of the run are swept first. A run that is not running returns no rows.
CREATE OR REPLACE FUNCTION public.claim_chunk(p_run_id bigint, p_worker text, p_max_postings integer DEFAULT 500)
RETURNS TABLE (posting_id bigint, conversation_id integer, canonical_name text, actor_id integer,
               actor_name text, actor_type text, actor_config jsonb, timeout_seconds numeric,
               max_concurrency integer, prompt text, attempt integer, claim_token uuid,
               lease_expires_at timestamptz, context jsonb)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    run         public.workflow_runs;
    wave        integer;
    template    text;
    token       uuid := gen_random_uuid();  -- one per chunk: a random UUID per row costs half the claim
    lease_until timestamptz;
BEGIN
    SELECT * INTO run FROM public.workflow_runs AS r WHERE r.workflow_run_id = p_run_id;
    IF run.status IS DISTINCT FROM 'running' THEN
        RETURN;  -- a finished run has nothing to claim (another worker may have just completed it)
    END IF;

    -- HOUSEKEEPING: expired leases return to the pool; this worker is alive
    PERFORM public.sweep_expired_claims(p_run_id);
    UPDATE public.run_workers AS worker SET heartbeat_at = now()
     WHERE worker.workflow_run_id = p_run_id AND worker.worker_id = p_worker;

    -- WAVE: the waiting conversation that comes first (the error handler after every step)
    SELECT step.conversation_id INTO wave
      FROM public.workflow_conversations AS step
     WHERE step.workflow_id = run.workflow_id
       AND EXISTS (SELECT 1 FROM public.posting_work AS work
                    WHERE work.workflow_run_id = p_run_id AND work.conversation_id = step.conversation_id
                      AND work.status = 'waiting')
     ORDER BY step.execution_order
     LIMIT 1;
    IF wave IS NULL THEN
        SELECT work.conversation_id INTO wave
          FROM public.posting_work AS work
         WHERE work.workflow_run_id = p_run_id AND work.status = 'waiting'
         LIMIT 1;
    END IF;
    IF wave IS NULL THEN
        RETURN;
    END IF;
    SELECT instruction.prompt_template INTO template
      FROM public.instructions AS instruction
     WHERE instruction.conversation_id = wave AND instruction.enabled;

    -- CLAIM: lock, lease and render in one statement
    lease_until := now() + make_interval(secs => run.lease_seconds);
    RETURN QUERY
    WITH picked AS (
        SELECT work.posting_id
          FROM public.posting_work AS work
         WHERE work.workflow_run_id = p_run_id AND work.conversation_id = wave AND work.status = 'waiting'
         ORDER BY work.posting_id
         LIMIT least(greatest(p_max_postings, 1), 1000)
           FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE public.posting_work AS work
           SET status = 'claimed', claim_token = token, claimed_by = p_worker, lease_expires_at = lease_until,
               attempt = work.attempt + 1, updated_at = now()
          FROM picked
         WHERE work.workflow_run_id = p_run_id AND work.posting_id = picked.posting_id
        RETURNING work.posting_id, work.attempt, work.claim_token, work.lease_expires_at, work.visits,
                  work.last_outcome
    )
    SELECT claimed.posting_id, conversation.conversation_id, conversation.canonical_name, actor.actor_id,
           actor.actor_name, actor.actor_type, actor.config, actor.timeout_seconds, actor.max_concurrency,
           rendered.prompt, claimed.attempt, claimed.claim_token, claimed.lease_expires_at,
           (to_jsonb(posting) - 'dedup_key') || jsonb_build_object(
               'workflow_run_id', p_run_id, 'conversation', conversation.canonical_name,
               'attempt', claimed.attempt, 'visit', coalesce((claimed.visits ->> wave::text)::integer, 1),
               'last_outcome', claimed.last_outcome)
      FROM claimed
      JOIN public.postings AS posting ON posting.posting_id = claimed.posting_id
      JOIN public.conversations AS conversation ON conversation.conversation_id = wave
      JOIN public.actors AS actor ON actor.actor_id = conversation.actor_id
      JOIN public.render_prompts(template, (SELECT array_agg(c.posting_id) FROM claimed AS c)) AS rendered
        ON rendered.posting_id = claimed.posting_id
     ORDER BY claimed.posting_id;
END;
$function$;
