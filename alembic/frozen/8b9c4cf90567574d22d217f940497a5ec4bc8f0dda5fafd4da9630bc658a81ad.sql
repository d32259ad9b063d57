-- release_claims(run_id, worker, claim_tokens): a worker that stops before finishing a chunk hands
-- its claims back at once, without counting a reclaim (a graceful stop is not a failure).
CREATE OR REPLACE FUNCTION public.release_claims(p_run_id bigint, p_worker text, p_claim_tokens uuid[])
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH released AS (
        UPDATE public.posting_work AS work
           SET status = 'waiting', attempt = work.attempt - 1, claim_token = NULL, claimed_by = NULL,
               lease_expires_at = NULL, updated_at = now()
         WHERE work.workflow_run_id = p_run_id AND work.status = 'claimed' AND work.claimed_by = p_worker
           AND work.claim_token = ANY (p_claim_tokens)
        RETURNING work.posting_id, work.conversation_id
    ), checkpoint AS (
        INSERT INTO public.posting_state_checkpoints
               (workflow_run_id, posting_id, conversation_id, state, next_conversation_id, note)
        SELECT p_run_id, released.posting_id, released.conversation_id, 'released', released.conversation_id,
               format('released by %s when it stopped', p_worker)
          FROM released
    )
    SELECT count(*)::integer FROM released;
$function$;
