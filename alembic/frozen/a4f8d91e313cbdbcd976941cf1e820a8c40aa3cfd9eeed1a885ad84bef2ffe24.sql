-- recent_errors(since, run_id): the failed calls of the last `since` (of one run, when given), grouped
-- by actor, conversation and kind, most frequent first: how many, when last, up to three example
-- postings (the latest first) and the message of the latest (its checkpoint's note), what
-- `turing errors` prints.
--   SELECT * FROM recent_errors(interval '1 hour');
CREATE OR REPLACE FUNCTION public.recent_errors(p_since interval DEFAULT interval '1 day', p_run_id bigint DEFAULT NULL)
RETURNS TABLE (actor_name text, conversation text, error_kind text, errors bigint, last_seen timestamptz,
               example_postings bigint[], example_message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH failed AS (
        SELECT call.actor_id, call.conversation_id, call.error_kind, call.posting_id, call.workflow_run_id,
               call.created_at
          FROM public.actor_calls AS call
         WHERE call.status = 'error' AND call.created_at >= now() - p_since
           AND (p_run_id IS NULL OR call.workflow_run_id = p_run_id)
    ), grouped AS (
        SELECT failed.actor_id, failed.conversation_id, failed.error_kind, count(*) AS errors,
               max(failed.created_at) AS last_seen,
               (array_agg(failed.posting_id ORDER BY failed.created_at DESC))[1:3] AS example_postings,
               (array_agg(failed.workflow_run_id ORDER BY failed.created_at DESC))[1] AS latest_run
          FROM failed
         GROUP BY failed.actor_id, failed.conversation_id, failed.error_kind
    )
    SELECT actor.actor_name, conversation.canonical_name, grouped.error_kind, grouped.errors, grouped.last_seen,
           grouped.example_postings,
           (SELECT checkpoint.note FROM public.posting_state_checkpoints AS checkpoint
             WHERE checkpoint.workflow_run_id = grouped.latest_run
               AND checkpoint.posting_id = grouped.example_postings[1]
               AND checkpoint.conversation_id IS NOT DISTINCT FROM grouped.conversation_id
               AND checkpoint.note IS NOT NULL
             ORDER BY checkpoint.checkpoint_id DESC LIMIT 1)
      FROM grouped
      JOIN public.actors AS actor ON actor.actor_id = grouped.actor_id
      LEFT JOIN public.conversations AS conversation ON conversation.conversation_id = grouped.conversation_id
     ORDER BY grouped.errors DESC, grouped.last_seen DESC;
$function$;
