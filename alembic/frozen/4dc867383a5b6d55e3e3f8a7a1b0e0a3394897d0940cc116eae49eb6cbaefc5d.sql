-- complete_chunk(run_id, worker, results): hand a chunk's results back, in one transaction.
-- results is a JSON array of {posting_id, claim_token, output, sentinel, latency_ms, prompt_tokens,
-- completion_tokens, error_kind, error_message}; sentinel is NULL for a success or the engine's outcome
-- ('[ERROR]', '[TIMEOUT]', '[FAILED]', '[CIRCUIT_OPEN]'). For each result whose claim is still live:
--   1. a conversation that saves a stage writes its output to the posting's column (an output the
--      column refuses turns into '[FAILED]');
--   2. the first branch that matches (first_matching_branch()) picks the next
--      conversation; a branch into a conversation whose max_visits (25 when not set, so no loop runs
--      forever) is spent turns the outcome into '[LOOP_LIMIT]', matched again; an outcome no branch matches goes to the global error handler
--      (a missing branch, noted in the checkpoint), and a posting the error handler ends is 'failed';
--   3. the output, the actor call and a checkpoint are stored and the posting moves on.
-- A result whose claim token is stale (the lease expired and the posting was reclaimed, or it was
-- already completed) changes nothing and is returned with accepted = false.
CREATE OR REPLACE FUNCTION public.complete_chunk(p_run_id bigint, p_worker text, p_results jsonb)
RETURNS TABLE (posting_id bigint, accepted boolean, state text, next_conversation text, note text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    handler_id  integer;
    save        record;
    column_type text;
BEGIN
    IF to_regclass('pg_temp.turing_chunk') IS NULL THEN
        CREATE TEMPORARY TABLE turing_chunk (
            posting_id bigint PRIMARY KEY, claim_token uuid, accepted boolean, conversation_id integer,
            actor_id integer, saves_column text, is_handler boolean, in_handler boolean, visits jsonb,
            output text, sentinel text, latency_ms numeric, prompt_tokens integer, completion_tokens integer,
            error_kind text, branch_sentinel text, matched boolean, next_conversation_id integer,
            state text, note text
        ) ON COMMIT DELETE ROWS;
    END IF;
    DELETE FROM pg_temp.turing_chunk;
    SELECT c.conversation_id INTO handler_id FROM public.conversations AS c
     WHERE c.conversation_type = 'error_handler' AND c.enabled;

    -- GUARD: only results that hold a live claim count; lock those postings (one statement)
    INSERT INTO pg_temp.turing_chunk
    SELECT result.posting_id, result.claim_token, true, work.conversation_id,
           conversation.actor_id, stage.posting_column, conversation.conversation_type = 'error_handler',
           work.in_error_handler, work.visits,
           coalesce(result.output, ''), nullif(result.sentinel, ''), coalesce(result.latency_ms, 0),
           result.prompt_tokens, result.completion_tokens,
           CASE WHEN nullif(result.sentinel, '') IS NOT NULL
                THEN coalesce(result.error_kind, lower(btrim(result.sentinel, '[]'))) END,
           nullif(result.sentinel, ''), NULL, NULL, NULL,
           CASE WHEN nullif(result.sentinel, '') IS NOT NULL THEN left(result.error_message, 500) END
      FROM jsonb_to_recordset(p_results) AS result (
               posting_id bigint, claim_token uuid, output text, sentinel text, latency_ms numeric,
               prompt_tokens integer, completion_tokens integer, error_kind text, error_message text)
      JOIN public.posting_work AS work
        ON work.workflow_run_id = p_run_id AND work.posting_id = result.posting_id
       AND work.claim_token = result.claim_token AND work.status = 'claimed'
      JOIN public.conversations AS conversation ON conversation.conversation_id = work.conversation_id
      LEFT JOIN public.stages AS stage ON stage.stage_name = conversation.saves_stage
       FOR UPDATE OF work
    ON CONFLICT DO NOTHING;

    -- the others are stale: refused, and reported as such
    INSERT INTO pg_temp.turing_chunk (posting_id, claim_token, accepted, state, note)
    SELECT result.posting_id, result.claim_token, false, 'stale',
           'refused: the claim token is not the live claim of this posting (lease expired or already completed)'
      FROM jsonb_to_recordset(p_results) AS result (posting_id bigint, claim_token uuid)
    ON CONFLICT DO NOTHING;

    -- SAVE stages: write the output to the posting (one posting at a time, so a bad value fails alone)
    FOR save IN SELECT chunk.posting_id, chunk.saves_column, chunk.output FROM pg_temp.turing_chunk AS chunk
                 WHERE chunk.accepted AND chunk.sentinel IS NULL AND chunk.saves_column IS NOT NULL LOOP
        SELECT format_type(attribute.atttypid, NULL) INTO column_type FROM pg_attribute AS attribute
         WHERE attribute.attrelid = 'public.postings'::regclass AND attribute.attname = save.saves_column;
        BEGIN
            EXECUTE format('UPDATE public.postings AS p SET %1$I = (jsonb_populate_record(NULL::public.postings, $1)).%1$I, '
                           'updated_at = now() WHERE p.posting_id = $2', save.saves_column)
              USING jsonb_build_object(save.saves_column,
                                       CASE WHEN column_type = 'jsonb' THEN save.output::jsonb ELSE to_jsonb(btrim(save.output)) END),
                    save.posting_id;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
            UPDATE pg_temp.turing_chunk AS chunk
               SET sentinel = '[FAILED]', branch_sentinel = '[FAILED]', error_kind = 'invalid_stage_value',
                   note = format('postings.%s refused the output: %s', save.saves_column, SQLERRM)
             WHERE chunk.posting_id = save.posting_id;
        END;
    END LOOP;

    -- BRANCH: the first branch that matches the outcome
    UPDATE pg_temp.turing_chunk AS chunk
       SET (matched, next_conversation_id) = (
               SELECT true, branch.next_conversation_id
                 FROM public.first_matching_branch(chunk.conversation_id, chunk.output, chunk.branch_sentinel) AS branch)
     WHERE chunk.accepted;

    -- LOOP LIMIT: a branch into a conversation whose max_visits is spent is matched again as [LOOP_LIMIT]
    UPDATE pg_temp.turing_chunk AS chunk
       SET branch_sentinel = '[LOOP_LIMIT]',
           note = concat_ws('; ', chunk.note, format('%s reached max_visits %s', target.canonical_name,
                                                     coalesce(step.max_visits, 25))),
           (matched, next_conversation_id) = (
               SELECT true, branch.next_conversation_id
                 FROM public.first_matching_branch(chunk.conversation_id, chunk.output, '[LOOP_LIMIT]') AS branch)
      FROM public.workflow_runs AS run, public.workflow_conversations AS step, public.conversations AS target
     WHERE chunk.accepted AND chunk.matched AND run.workflow_run_id = p_run_id
       AND step.workflow_id = run.workflow_id AND step.conversation_id = chunk.next_conversation_id
       AND target.conversation_id = step.conversation_id
       AND coalesce((chunk.visits ->> chunk.next_conversation_id::text)::integer, 0) >= coalesce(step.max_visits, 25);

    -- ROUTE: where each posting goes, and in what state
    UPDATE pg_temp.turing_chunk AS chunk
       SET state = CASE
                       WHEN chunk.matched AND chunk.next_conversation_id IS NOT NULL THEN 'completed'
                       WHEN chunk.matched AND (chunk.in_handler OR chunk.is_handler) THEN 'failed'
                       WHEN chunk.matched THEN 'ended'
                       WHEN NOT chunk.is_handler AND handler_id IS NOT NULL THEN 'completed'
                       ELSE 'failed'
                   END,
           next_conversation_id = CASE
                       WHEN chunk.matched THEN chunk.next_conversation_id
                       WHEN NOT chunk.is_handler AND handler_id IS NOT NULL THEN handler_id
                   END,
           note = CASE
                       WHEN chunk.matched THEN chunk.note
                       ELSE concat_ws('; ', chunk.note, format('no branch of %s matches %s%s', conversation.canonical_name,
                                      coalesce(chunk.branch_sentinel, 'the output'),
                                      CASE WHEN NOT chunk.is_handler AND handler_id IS NOT NULL
                                           THEN ': sent to the error handler' ELSE ': posting failed' END))
                   END
      FROM public.conversations AS conversation
     WHERE chunk.accepted AND conversation.conversation_id = chunk.conversation_id;

    -- STORE: outputs, actor calls, checkpoints, and the postings' new positions
    INSERT INTO public.conversation_outputs (workflow_run_id, posting_id, conversation_id, output, is_error)
    SELECT p_run_id, chunk.posting_id, chunk.conversation_id,
           CASE WHEN chunk.sentinel IS NULL THEN chunk.output ELSE chunk.sentinel END, chunk.sentinel IS NOT NULL
      FROM pg_temp.turing_chunk AS chunk WHERE chunk.accepted;

    INSERT INTO public.actor_calls (workflow_run_id, posting_id, conversation_id, actor_id, status, error_kind,
                                    latency_ms, prompt_tokens, completion_tokens)
    SELECT p_run_id, chunk.posting_id, chunk.conversation_id, chunk.actor_id,
           CASE WHEN chunk.sentinel IS NULL THEN 'success' ELSE 'error' END, chunk.error_kind,
           greatest(chunk.latency_ms, 0), chunk.prompt_tokens, chunk.completion_tokens
      FROM pg_temp.turing_chunk AS chunk WHERE chunk.accepted;

    INSERT INTO public.posting_state_checkpoints (workflow_run_id, posting_id, conversation_id, state, outcome,
                                                  next_conversation_id, note)
    SELECT p_run_id, chunk.posting_id, chunk.conversation_id, chunk.state,
           coalesce(chunk.branch_sentinel, left(chunk.output, 200)), chunk.next_conversation_id, chunk.note
      FROM pg_temp.turing_chunk AS chunk WHERE chunk.accepted;

    UPDATE public.posting_work AS work
       SET status = CASE chunk.state WHEN 'completed' THEN 'waiting' WHEN 'ended' THEN 'done' ELSE 'failed' END,
           conversation_id = CASE WHEN chunk.state = 'completed' THEN chunk.next_conversation_id END,
           visits = CASE WHEN chunk.state = 'completed'
                         THEN work.visits || jsonb_build_object(chunk.next_conversation_id::text,
                              coalesce((work.visits ->> chunk.next_conversation_id::text)::integer, 0) + 1)
                         ELSE work.visits END,
           in_error_handler = work.in_error_handler OR (chunk.next_conversation_id = handler_id) IS TRUE,
           last_outcome = coalesce(chunk.branch_sentinel, 'ok'),
           attempt = 0, claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL, updated_at = now()
      FROM pg_temp.turing_chunk AS chunk
     WHERE chunk.accepted AND work.workflow_run_id = p_run_id AND work.posting_id = chunk.posting_id;

    UPDATE public.run_workers AS worker SET heartbeat_at = now()
     WHERE worker.workflow_run_id = p_run_id AND worker.worker_id = p_worker;

    RETURN QUERY
    SELECT chunk.posting_id, chunk.accepted, chunk.state, next.canonical_name, chunk.note
      FROM pg_temp.turing_chunk AS chunk
      LEFT JOIN public.conversations AS next ON next.conversation_id = chunk.next_conversation_id
     ORDER BY chunk.posting_id;
END;
$function$;
