-- run_report(run_id): what `turing report` draws, as JSON: run_status(run_id) and
--   timeline  steps stored in each of 40 equal intervals of the run (at least 0.1 s each; an
--             interval with none is 0, so a stall shows): [{"second": its start, "steps": n}]
--   latency   per actor, its calls by latency band (ms): [{"actor", "le_ms", "calls"}], le_ms NULL
--             for the calls slower than the last band
--   tokens    per actor: calls, errors, prompt and completion tokens, mean and p95 latency
-- NULL when there is no such run.
CREATE OR REPLACE FUNCTION public.run_report(p_run_id bigint)
RETURNS json
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH run AS (
        SELECT run.workflow_run_id, run.started_at,
               greatest(extract(epoch FROM coalesce(run.finished_at, now()) - run.started_at) / 40, 0.1) AS width
          FROM public.workflow_runs AS run WHERE run.workflow_run_id = p_run_id
    ), bands (le_ms) AS (
        SELECT unnest(ARRAY[10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 120000]::numeric[])
    ), calls AS (
        SELECT actor.actor_name, call.latency_ms, call.status, call.prompt_tokens, call.completion_tokens
          FROM public.actor_calls AS call JOIN public.actors AS actor USING (actor_id)
         WHERE call.workflow_run_id = p_run_id
    )
    SELECT (public.run_status(p_run_id)::jsonb || jsonb_build_object(
        'timeline', (SELECT jsonb_agg(jsonb_build_object('second', round((slot.n * run.width)::numeric, 1),
                                                         'steps', coalesce(bucket.steps, 0)) ORDER BY slot.n)
                       FROM run CROSS JOIN generate_series(0, 39) AS slot (n)
                       LEFT JOIN (SELECT least(floor(extract(epoch FROM checkpoint.created_at - run.started_at)
                                                     / run.width), 39) AS n, count(*) AS steps
                                    FROM public.posting_state_checkpoints AS checkpoint, run
                                   WHERE checkpoint.workflow_run_id = p_run_id
                                     AND checkpoint.state IN ('completed', 'ended', 'failed')
                                   GROUP BY 1) AS bucket ON bucket.n = slot.n),
        'latency', (SELECT coalesce(jsonb_agg(jsonb_build_object('actor', banded.actor_name, 'le_ms', banded.le_ms,
                                                                'calls', banded.calls)
                                              ORDER BY banded.actor_name, banded.le_ms NULLS LAST), '[]')
                      FROM (SELECT calls.actor_name,
                                   (SELECT min(bands.le_ms) FROM bands WHERE calls.latency_ms <= bands.le_ms) AS le_ms,
                                   count(*) AS calls
                              FROM calls GROUP BY 1, 2) AS banded),
        'tokens', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                              'actor', per_actor.actor_name, 'calls', per_actor.calls, 'errors', per_actor.errors,
                              'prompt_tokens', per_actor.prompt_tokens, 'completion_tokens', per_actor.completion_tokens,
                              'mean_ms', per_actor.mean_ms, 'p95_ms', per_actor.p95_ms) ORDER BY per_actor.actor_name), '[]')
                     FROM (SELECT calls.actor_name, count(*) AS calls, count(*) FILTER (WHERE calls.status = 'error') AS errors,
                                  coalesce(sum(calls.prompt_tokens), 0) AS prompt_tokens,
                                  coalesce(sum(calls.completion_tokens), 0) AS completion_tokens,
                                  round(avg(calls.latency_ms), 1) AS mean_ms,
                                  round(percentile_cont(0.95) WITHIN GROUP (ORDER BY calls.latency_ms)::numeric, 1) AS p95_ms
                             FROM calls GROUP BY calls.actor_name) AS per_actor)))::json
      FROM run;
$function$;
