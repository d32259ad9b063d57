-- run_summary(run_id): per conversation of a run, the postings it completed, ended, failed and
-- quarantined (from the checkpoints) and its actor calls, errors and latency (from actor_calls).
CREATE OR REPLACE FUNCTION public.run_summary(p_run_id bigint)
RETURNS TABLE (conversation text, execution_order integer, completed integer, ended integer, failed integer,
               quarantined integer, calls integer, errors integer, avg_latency_ms numeric, p95_latency_ms numeric)
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
               round(percentile_cont(0.95) WITHIN GROUP (ORDER BY a.latency_ms)::numeric, 1) AS p95_latency_ms
          FROM public.actor_calls AS a
         WHERE a.workflow_run_id = p_run_id
         GROUP BY a.conversation_id
    )
    SELECT conversation.canonical_name, step.execution_order,
           coalesce(checkpoint.completed, 0)::integer, coalesce(checkpoint.ended, 0)::integer,
           coalesce(checkpoint.failed, 0)::integer, coalesce(checkpoint.quarantined, 0)::integer,
           coalesce(call.calls, 0)::integer, coalesce(call.errors, 0)::integer,
           call.avg_latency_ms, call.p95_latency_ms
      FROM checkpoint
      FULL JOIN call USING (conversation_id)
      JOIN public.conversations AS conversation ON conversation.conversation_id = coalesce(checkpoint.conversation_id, call.conversation_id)
      JOIN public.workflow_runs AS run ON run.workflow_run_id = p_run_id
      LEFT JOIN public.workflow_conversations AS step
             ON step.workflow_id = run.workflow_id AND step.conversation_id = conversation.conversation_id
     ORDER BY step.execution_order NULLS LAST, conversation.canonical_name;
$function$;
