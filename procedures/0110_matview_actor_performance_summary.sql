-- actor_performance_summary: per actor, how many calls, how many failed, how slow, how many tokens.
-- Materialized (actor_calls grows fast); refreshed by refresh_performance_views(), which pg_cron runs
-- as the job 'refresh-actor-performance'. The unique index allows REFRESH ... CONCURRENTLY.
CREATE MATERIALIZED VIEW public.actor_performance_summary AS
SELECT actor.actor_id,
       actor.actor_name,
       actor.actor_type,
       count(call.actor_call_id)                                     AS total_calls,
       count(*) FILTER (WHERE call.status = 'success')               AS successful_calls,
       count(*) FILTER (WHERE call.status = 'error')                 AS failed_calls,
       round(100.0 * count(*) FILTER (WHERE call.status = 'success')
             / nullif(count(call.actor_call_id), 0), 2)              AS success_rate_pct,
       round(avg(call.latency_ms), 1)                                AS avg_latency_ms,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY call.latency_ms) AS p50_latency_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY call.latency_ms) AS p95_latency_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY call.latency_ms) AS p99_latency_ms,
       coalesce(sum(call.prompt_tokens), 0)                          AS total_prompt_tokens,
       coalesce(sum(call.completion_tokens), 0)                      AS total_completion_tokens,
       max(call.created_at)                                          AS last_call_at
  FROM public.actors AS actor
  LEFT JOIN public.actor_calls AS call ON call.actor_id = actor.actor_id
 GROUP BY actor.actor_id, actor.actor_name, actor.actor_type
WITH DATA;

CREATE UNIQUE INDEX actor_performance_summary_actor_id_key ON public.actor_performance_summary (actor_id);
