-- run_summary(run_id): per conversation of a run, the postings it completed, ended, failed and
-- quarantined (from the checkpoints) and its actor calls, errors, latency and tokens (from
-- actor_calls, as the servers counted them): tokens_per_s is the completion tokens over the time of
-- the calls that reported any (a call's time includes reading its prompt), max_load_ms the longest
-- model load a server reported (Ollama's load_duration).
CREATE OR REPLACE FUNCTION public.run_summary(p_run_id bigint)
RETURNS TABLE (conversation text, execution_order integer, completed integer, ended integer, failed integer,
               quarantined integer, calls integer, errors integer, avg_latency_ms numeric, p95_latency_ms numeric,
               prompt_tokens bigint, completion_tokens bigint, tokens_per_s numeric, max_load_ms numeric)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH checkpoint AS (
        SELECT c.conversation_id,
               count(*) FILTER (WHERE c.state = 'completed') AS completed,
               count(*) FILTER (WHERE c.state = 'ended') AS ended,
               count(*) FILTER (WHERE c.state = 'failed') AS failed,
               count(*) FILTER (WHERE c.state = 'quarantined') AS quarantined
          FROM public.posting_state_checkpoints AS c
         WHERE c.workflow_run_id = p_run_id AND c.conversation_id IS NOT NULL
         GROUP BY c.conversation_id
    ), call AS (
        SELECT a.conversation_id, count(*) AS calls, count(*) FILTER (WHERE a.status = 'error') AS errors,
               round(avg(a.latency_ms), 1) AS avg_latency_ms,
               round(percentile_cont(0.95) WITHIN GROUP (ORDER BY a.latency_ms)::numeric, 1) AS p95_latency_ms,
               sum(a.prompt_tokens) AS prompt_tokens, sum(a.completion_tokens) AS completion_tokens,
               round(sum(a.completion_tokens) * 1000.0
                     / nullif(sum(a.latency_ms) FILTER (WHERE a.completion_tokens > 0), 0), 1) AS tokens_per_s,
               max(a.load_ms) AS max_load_ms
          FROM public.actor_calls AS a
         WHERE a.workflow_run_id = p_run_id
         GROUP BY a.conversation_id
    )
    SELECT conversation.canonical_name, step.execution_order,
           coalesce(checkpoint.completed, 0)::integer, coalesce(checkpoint.ended, 0)::integer,
           coalesce(checkpoint.failed, 0)::integer, coalesce(checkpoint.quarantined, 0)::integer,
           coalesce(call.calls, 0)::integer, coalesce(call.errors, 0)::integer,
           call.avg_latency_ms, call.p95_latency_ms, call.prompt_tokens, call.completion_tokens, call.tokens_per_s,
           call.max_load_ms
      FROM checkpoint
      FULL JOIN call USING (conversation_id)
      JOIN public.conversations AS conversation ON conversation.conversation_id = coalesce(checkpoint.conversation_id, call.conversation_id)
      JOIN public.workflow_runs AS run ON run.workflow_run_id = p_run_id
      LEFT JOIN public.workflow_conversations AS step
             ON step.workflow_id = run.workflow_id AND step.conversation_id = conversation.conversation_id
     ORDER BY step.execution_order NULLS LAST, conversation.canonical_name;
$function$;
