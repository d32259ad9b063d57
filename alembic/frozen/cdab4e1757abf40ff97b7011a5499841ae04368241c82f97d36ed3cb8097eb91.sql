-- complete_chunk(run_id, worker, results): hand a chunk's results back, in one transaction.
-- results is a JSON array of {posting_id, claim_token, output, sentinel, latency_ms, prompt_tokens,
-- completion_tokens, error_kind, error_message, attempt, http_status, load_ms} (the last three describe
-- the call, for HTTP actors: which attempt it was, its HTTP status, the model's load time); sentinel is NULL for a success or one of the
-- engine's outcomes that engine_sentinels() lists. For each result whose claim is still live:
--   1. a conversation that saves a stage writes its output to the posting's column (an output the
--      column refuses turns into '[FAILED]');
--   2. the first branch that matches the outcome (branch_matches(), lowest branch_priority first,
--      then lowest instruction_step_id; this function is the one place that chooses) picks the next
--      conversation; a branch into a conversation whose max_visits is spent (25 when not set, so no
--      loop runs forever; a step's branch into the error handler has no limit, the handler's own
--      branches have 25) turns the outcome into '[LOOP_LIMIT]', matched again; an outcome no branch
--      matches goes to the global error handler (a missing branch, noted in the checkpoint), and a
--      posting the error handler ends is 'failed';
--   3. the output, the actor call (none for '[CIRCUIT_OPEN]': the actor was not called) and a checkpoint are stored and the posting moves on; its reclaim
--      count starts again at 0 (a posting that makes progress is no poison pill); a posting that
--      failed counts a failed run (postings.failed_runs, failure_reason, failed_conversation).
-- A result with defer_seconds is not a result: the posting goes back to the pool, to be claimed again
-- no sooner than that (state 'deferred'; its call is logged).
-- A result whose claim token is stale (the lease expired and the posting was reclaimed, or it was
-- already completed) changes nothing and is returned with accepted = false.
CREATE OR REPLACE FUNCTION public.complete_chunk(p_run_id bigint, p_worker text, p_results jsonb)
RETURNS TABLE (posting_id bigint, accepted boolean, state text, next_conversation text, note text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    handler_id integer;
    saving     record;
    save       record;
    save_sql   text;
    details    jsonb;     -- the results again, when any carries call details (HTTP actors' do)
    deferred_ids bigint[];
    deferred_seconds double precision[];
BEGIN
    -- the results of this call; named apart from the previous version's temp table (a pooled
    -- session of an older worker may still hold that one, with other columns). A table of that name
    -- that this function's owner did not make is refused: it runs as the owner, and a caller's own
    -- table (with a trigger of the caller's) would then run with the owner's rights.
    IF to_regclass('pg_temp.turing_completion') IS NULL THEN
        CREATE TEMPORARY TABLE turing_completion (
            posting_id bigint PRIMARY KEY, work_row tid, conversation_id integer, actor_id integer,
            saves_column text, is_handler boolean, in_handler boolean, visits jsonb, output text,
            sentinel text, latency_ms numeric, prompt_tokens integer, completion_tokens integer,
            error_kind text, note text
        ) ON COMMIT DELETE ROWS;
    ELSIF NOT EXISTS (SELECT FROM pg_class AS made
                       WHERE made.oid = to_regclass('pg_temp.turing_completion')
                         AND made.relowner = current_user::regrole AND made.relkind = 'r') THEN
        RAISE EXCEPTION 'pg_temp.turing_completion was not made by complete_chunk(): it is not used'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- the table above, for plpgsql_check, which cannot see a table made at run time (one line: it
    -- reads no other); at run time a constant
    PERFORM 'PRAGMA:TABLE: pg_temp.turing_completion (posting_id bigint, work_row tid, conversation_id integer, actor_id integer, saves_column text, is_handler boolean, in_handler boolean, visits jsonb, output text, sentinel text, latency_ms numeric, prompt_tokens integer, completion_tokens integer, error_kind text, note text)';
    DELETE FROM pg_temp.turing_completion;
    SELECT c.conversation_id INTO handler_id FROM public.conversations AS c
     WHERE c.conversation_type = 'error_handler' AND c.enabled
       FOR KEY SHARE;  -- it cannot be deleted until this commits (what a foreign key's lock did)

    -- DETAILS of the calls, when results carry any (HTTP actors' do; a plain chunk's are read once).
    -- No more temp tables: each one that ON COMMIT DELETE ROWS is truncated at every commit.
    IF jsonb_path_exists(p_results, '$[*] ? (exists(@.attempt) || exists(@.http_status) || exists(@.load_ms)
                                             || exists(@.defer_seconds))') THEN
        details := p_results;
    END IF;

    -- GUARD: only results that hold a live claim count; lock those postings, and their actors against
    -- deletion (one statement)
    INSERT INTO pg_temp.turing_completion
    SELECT result.posting_id, work.ctid, work.conversation_id, conversation.actor_id, stage.posting_column,
           conversation.conversation_type = 'error_handler', work.in_error_handler, work.visits,
           coalesce(result.output, ''), nullif(result.sentinel, ''), greatest(coalesce(result.latency_ms, 0), 0),
           result.prompt_tokens, result.completion_tokens,
           CASE WHEN nullif(result.sentinel, '') IS NOT NULL
                THEN coalesce(result.error_kind, lower(btrim(result.sentinel, '[]'))) END,
           CASE WHEN nullif(result.sentinel, '') IS NOT NULL THEN left(result.error_message, 500) END
      FROM jsonb_to_recordset(p_results) AS result (
               posting_id bigint, claim_token uuid, output text, sentinel text, latency_ms numeric,
               prompt_tokens integer, completion_tokens integer, error_kind text, error_message text)
      JOIN public.posting_work AS work
        ON work.workflow_run_id = p_run_id AND work.posting_id = result.posting_id
       AND work.claim_token = result.claim_token AND work.status = 'claimed'
      JOIN public.conversations AS conversation ON conversation.conversation_id = work.conversation_id
      JOIN public.actors AS actor ON actor.actor_id = conversation.actor_id
      LEFT JOIN public.stages AS stage ON stage.stage_name = conversation.saves_stage
       FOR UPDATE OF work FOR KEY SHARE OF actor
    ON CONFLICT DO NOTHING;

    -- DEFER: a result that asks for it (the server's Retry-After outlasted the retry cap) goes back to
    -- the pool, not to be claimed again for defer_seconds; its call is logged, nothing else changes
    IF details IS NOT NULL AND jsonb_path_exists(details, '$[*] ? (exists(@.defer_seconds))') THEN
        WITH given AS (
            SELECT DISTINCT ON (call.posting_id) call.*
              FROM jsonb_to_recordset(details) AS call (posting_id bigint, attempt integer, http_status integer,
                                                        defer_seconds double precision)
             WHERE call.defer_seconds IS NOT NULL
             ORDER BY call.posting_id
        ), deferred AS (
            DELETE FROM pg_temp.turing_completion AS chunk
             USING given
             WHERE chunk.posting_id = given.posting_id
            RETURNING chunk.*, greatest(given.defer_seconds, 0) AS seconds, given.attempt, given.http_status
        ), calls AS (
            INSERT INTO public.actor_calls (workflow_run_id, posting_id, conversation_id, actor_id, status,
                                            error_kind, latency_ms, prompt_tokens, completion_tokens, attempt,
                                            http_status)
            SELECT p_run_id, deferred.posting_id, deferred.conversation_id, deferred.actor_id, 'error',
                   coalesce(deferred.error_kind, 'deferred'), deferred.latency_ms, deferred.prompt_tokens,
                   deferred.completion_tokens, coalesce(deferred.attempt, 1), deferred.http_status
              FROM deferred
             WHERE deferred.sentinel IS DISTINCT FROM '[CIRCUIT_OPEN]'  -- not called: no call to log
        ), back AS (
            UPDATE public.posting_work AS work
               SET status = 'waiting', not_before = now() + make_interval(secs => deferred.seconds),
                   claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL, updated_at = now()
              FROM deferred
             WHERE work.ctid = deferred.work_row
        )
        SELECT array_agg(deferred.posting_id), array_agg(deferred.seconds)
          INTO deferred_ids, deferred_seconds
          FROM deferred;
    END IF;

    -- KEYS: the conversations these postings may move to cannot be deleted until this commits (what
    -- a foreign key's lock did; guard_work_references() refuses the delete afterwards)
    PERFORM FROM public.conversations AS target
      WHERE target.conversation_id = handler_id
         OR target.conversation_id IN (
                SELECT step.next_conversation_id
                  FROM public.instructions AS instruction
                  JOIN public.instruction_steps AS step ON step.instruction_id = instruction.instruction_id
                 WHERE instruction.conversation_id IN (SELECT chunk.conversation_id FROM pg_temp.turing_completion AS chunk))
        FOR KEY SHARE OF target;

    -- SAVE stages: each column in one statement; when the column refuses a value, again one posting
    -- at a time, so that only the bad values fail
    FOR saving IN SELECT DISTINCT chunk.saves_column, posting_column.column_type
                   FROM pg_temp.turing_completion AS chunk
                   LEFT JOIN public.posting_columns() AS posting_column
                     ON posting_column.column_name = chunk.saves_column
                  WHERE chunk.sentinel IS NULL AND chunk.saves_column IS NOT NULL LOOP
        IF saving.column_type IS NULL THEN
            RAISE EXCEPTION 'stage column postings.% does not exist: nothing was completed', saving.saves_column
                USING HINT = 'fix stages.posting_column, then run again', ERRCODE = 'undefined_column';
        END IF;
        save_sql := format(
            'UPDATE public.postings AS posting SET %1$I = (jsonb_populate_record(NULL::public.postings, '
            'jsonb_build_object(%1$L, %2$s))).%1$I, updated_at = now() FROM pg_temp.turing_completion AS chunk '
            'WHERE posting.posting_id = chunk.posting_id AND chunk.saves_column = %1$L AND chunk.sentinel IS NULL',
            saving.saves_column,
            CASE WHEN saving.column_type = 'jsonb' THEN 'chunk.output::jsonb' ELSE 'to_jsonb(btrim(chunk.output))' END);
        BEGIN
            EXECUTE save_sql;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
            FOR save IN SELECT chunk.posting_id FROM pg_temp.turing_completion AS chunk
                         WHERE chunk.saves_column = saving.saves_column AND chunk.sentinel IS NULL LOOP
                BEGIN
                    EXECUTE save_sql || ' AND chunk.posting_id = $1' USING save.posting_id;
                EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
                    UPDATE pg_temp.turing_completion AS chunk
                       SET sentinel = '[FAILED]', error_kind = 'invalid_stage_value',
                           note = format('postings.%s refused the output: %s', saving.saves_column, SQLERRM)
                     WHERE chunk.posting_id = save.posting_id;
                END;
            END LOOP;
        END;
    END LOOP;

    -- ROUTE and STORE, in one statement
    RETURN QUERY
    WITH branch AS MATERIALIZED (
        -- the branches of the chunk's conversations, each with its target's visit limit
        SELECT instruction.conversation_id, step.branch_condition, step.branch_priority,
               step.instruction_step_id, step.next_conversation_id,
               CASE WHEN target_step.conversation_id IS NOT NULL THEN coalesce(target_step.max_visits, 25)
                    WHEN instruction.conversation_id = handler_id THEN 25  -- the handler's own loops end too
               END AS max_visits,  -- a step's branch into the error handler has no limit
               target.canonical_name AS target_name
          FROM public.instructions AS instruction
          JOIN public.instruction_steps AS step
            ON step.instruction_id = instruction.instruction_id AND step.enabled
          JOIN public.workflow_runs AS run ON run.workflow_run_id = p_run_id
          LEFT JOIN public.workflow_conversations AS target_step
            ON target_step.workflow_id = run.workflow_id AND target_step.conversation_id = step.next_conversation_id
          LEFT JOIN public.conversations AS target ON target.conversation_id = step.next_conversation_id
         WHERE instruction.enabled
           AND instruction.conversation_id IN (SELECT chunk.conversation_id FROM pg_temp.turing_completion AS chunk)
    ), matched AS (
        -- the first branch that matches the outcome, and whether its target's visits are spent
        SELECT chunk.*, first.next_conversation_id, first.found IS TRUE AS found,
               coalesce((chunk.visits ->> first.next_conversation_id::text)::integer, 0) >= first.max_visits AS spent,
               format('%s reached max_visits %s', first.target_name, first.max_visits) AS spent_note
          FROM pg_temp.turing_completion AS chunk
          LEFT JOIN LATERAL (
              SELECT true AS found, b.next_conversation_id, b.max_visits, b.target_name
                FROM branch AS b
               WHERE b.conversation_id = chunk.conversation_id
                 AND public.branch_matches(b.branch_condition, chunk.output, chunk.sentinel)
               ORDER BY b.branch_priority, b.instruction_step_id
               LIMIT 1) AS first ON true
    ), decided AS (
        -- a spent target: the outcome is '[LOOP_LIMIT]', matched again
        SELECT matched.*,
               CASE WHEN matched.spent THEN limited.found IS TRUE ELSE matched.found END AS hit,
               CASE WHEN matched.spent THEN limited.next_conversation_id ELSE matched.next_conversation_id END AS target,
               CASE WHEN matched.spent THEN '[LOOP_LIMIT]' ELSE matched.sentinel END AS outcome,
               CASE WHEN matched.spent THEN concat_ws('; ', matched.note, matched.spent_note) ELSE matched.note END AS noted
          FROM matched
          LEFT JOIN LATERAL (
              SELECT true AS found, b.next_conversation_id
                FROM branch AS b
               WHERE matched.spent AND b.conversation_id = matched.conversation_id
                 AND public.branch_matches(b.branch_condition, matched.output, '[LOOP_LIMIT]')
               ORDER BY b.branch_priority, b.instruction_step_id
               LIMIT 1) AS limited ON true
    ), routed AS (
        -- where each posting goes, and in what state; no matching branch: to the error handler
        SELECT decided.posting_id, decided.work_row, decided.conversation_id, decided.actor_id, decided.output,
               decided.sentinel, decided.outcome, decided.latency_ms, decided.prompt_tokens,
               decided.completion_tokens, decided.error_kind,
               CASE WHEN decided.hit AND decided.target IS NOT NULL THEN 'completed'
                    WHEN decided.hit AND (decided.in_handler OR decided.is_handler) THEN 'failed'
                    WHEN decided.hit THEN 'ended'
                    WHEN NOT decided.is_handler AND handler_id IS NOT NULL THEN 'completed'
                    ELSE 'failed' END AS state,
               CASE WHEN decided.hit THEN decided.target
                    WHEN NOT decided.is_handler THEN handler_id END AS next_id,
               CASE WHEN decided.hit THEN decided.noted
                    ELSE concat_ws('; ', decided.noted, format('no branch of %s matches %s%s',
                                   conversation.canonical_name, coalesce(decided.outcome, 'the output'),
                                   CASE WHEN NOT decided.is_handler AND handler_id IS NOT NULL
                                        THEN ': sent to the error handler' ELSE ': posting failed' END))
               END AS note
          FROM decided
          JOIN public.conversations AS conversation ON conversation.conversation_id = decided.conversation_id
    ), outputs AS (
        INSERT INTO public.conversation_outputs (workflow_run_id, posting_id, conversation_id, output, is_error)
        SELECT p_run_id, routed.posting_id, routed.conversation_id, coalesce(routed.sentinel, routed.output),
               routed.sentinel IS NOT NULL
          FROM routed
    ), calls AS (
        INSERT INTO public.actor_calls (workflow_run_id, posting_id, conversation_id, actor_id, status,
                                        error_kind, latency_ms, prompt_tokens, completion_tokens, attempt,
                                        http_status, load_ms)
        SELECT p_run_id, routed.posting_id, routed.conversation_id, routed.actor_id,
               CASE WHEN routed.sentinel IS NULL THEN 'success' ELSE 'error' END, routed.error_kind,
               routed.latency_ms, routed.prompt_tokens, routed.completion_tokens,
               coalesce(call.attempt, 1), call.http_status, call.load_ms
          FROM routed
          LEFT JOIN (SELECT DISTINCT ON (given.posting_id) given.*
                       FROM jsonb_to_recordset(details) AS given (posting_id bigint, attempt integer,
                                                                   http_status integer, load_ms numeric)
                      ORDER BY given.posting_id) AS call  -- no rows when `details` is NULL
            ON call.posting_id = routed.posting_id
         WHERE routed.sentinel IS DISTINCT FROM '[CIRCUIT_OPEN]'  -- the breaker refused it: no call was made
    ), failures AS (
        -- a failed posting counts one more failed run (later runs leave it out at max_failed_runs()),
        -- with the conversation it failed from: the step that sent it to the error handler
        UPDATE public.postings AS posting
           SET failed_runs = posting.failed_runs + 1, updated_at = now(),
               failure_reason = left(coalesce(routed.note, routed.outcome, routed.output), 500),
               failed_conversation = coalesce(
                   (SELECT came_from.canonical_name
                      FROM public.posting_state_checkpoints AS into_handler
                      JOIN public.conversations AS came_from ON came_from.conversation_id = into_handler.conversation_id
                     WHERE into_handler.workflow_run_id = p_run_id AND into_handler.posting_id = routed.posting_id
                       AND into_handler.next_conversation_id = handler_id
                     ORDER BY into_handler.checkpoint_id DESC LIMIT 1),
                   (SELECT failed_at.canonical_name FROM public.conversations AS failed_at
                     WHERE failed_at.conversation_id = routed.conversation_id))
          FROM routed
         WHERE posting.posting_id = ANY (ARRAY(SELECT failed.posting_id FROM routed AS failed WHERE failed.state = 'failed'))
           AND routed.posting_id = posting.posting_id  -- by key, from the few that failed: never a scan of postings
    ), checkpoints AS (
        INSERT INTO public.posting_state_checkpoints (workflow_run_id, posting_id, conversation_id, state,
                                                      outcome, next_conversation_id, note)
        SELECT p_run_id, routed.posting_id, routed.conversation_id, routed.state,
               coalesce(routed.outcome, left(routed.output, 200)), routed.next_id, routed.note
          FROM routed
    ), moved AS (
        -- the locked rows, by row address (a TID scan; a join on the key scanned the whole table)
        UPDATE public.posting_work AS work
           SET status = CASE routed.state WHEN 'completed' THEN 'waiting' WHEN 'ended' THEN 'done' ELSE 'failed' END,
               conversation_id = CASE WHEN routed.state = 'completed' THEN routed.next_id END,
               visits = CASE WHEN routed.state = 'completed'
                             THEN work.visits || jsonb_build_object(routed.next_id::text,
                                  coalesce((work.visits ->> routed.next_id::text)::integer, 0) + 1)
                             ELSE work.visits END,
               in_error_handler = work.in_error_handler OR (routed.next_id = handler_id) IS TRUE,
               last_outcome = coalesce(routed.outcome, 'ok'),
               attempt = 0, reclaims = 0,  -- a result is progress: the posting is above suspicion again
               claim_token = NULL, claimed_by = NULL, lease_expires_at = NULL, updated_at = now()
          FROM routed
         WHERE work.ctid = ANY (ARRAY(SELECT moving.work_row FROM routed AS moving))
           AND work.ctid = routed.work_row
    )
    SELECT result.posting_id, routed.posting_id IS NOT NULL OR deferred.posting_id IS NOT NULL,
           CASE WHEN deferred.posting_id IS NOT NULL THEN 'deferred' ELSE coalesce(routed.state, 'stale') END,
           next.canonical_name,
           CASE WHEN deferred.posting_id IS NOT NULL
                THEN format('deferred: claimed again in %s s at the earliest', round(deferred.seconds::numeric, 1))
                WHEN routed.posting_id IS NULL
                THEN 'refused: the claim token is not the live claim of this posting (lease expired or already completed)'
                ELSE routed.note END
      FROM (SELECT DISTINCT given.posting_id FROM jsonb_to_recordset(p_results) AS given (posting_id bigint)) AS result
      LEFT JOIN routed ON routed.posting_id = result.posting_id
      LEFT JOIN unnest(deferred_ids, deferred_seconds) AS deferred (posting_id, seconds)
        ON deferred.posting_id = result.posting_id
      LEFT JOIN public.conversations AS next ON next.conversation_id = routed.next_id
     ORDER BY result.posting_id;

    UPDATE public.run_workers AS worker SET heartbeat_at = now()
     WHERE worker.workflow_run_id = p_run_id AND worker.worker_id = p_worker;
END;
$function$;
