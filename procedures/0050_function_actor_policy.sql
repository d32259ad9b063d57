-- actor_policy(config, actor_type): an actor's resilience settings with every default filled in, as
-- claim_chunk_v2() hands them to workers and actor_admit() / actor_settle() apply them:
--   retry      {max_attempts 3 (1 for a python or shell actor), base_seconds 1, cap_seconds 30}
--   breaker    {failure_threshold 5, window_seconds 120, reset_seconds 60, success_threshold 2,
--               half_open_probes 1, on_open "fail", count_rate_limits false, counts_failures}
--   rate_limit {requests_per_minute, tokens_per_minute}: absent means unlimited
-- counts_failures says whether the actor's failures count against its breaker: a server's do
-- (ollama, openai), a python or shell actor's only when its config sets a breaker; so a local actor
-- guarded for its max_concurrency alone is tried once and never trips a breaker. (No actor_type:
-- a server's defaults.) A key the actor's config sets wins over its default. A section that does not
-- fit its rules (actor_policy_section_fits(); validate_workflow() refuses it) is ignored: the defaults
-- hold, so a bad config never breaks the gate or the circuit_breakers view.
CREATE OR REPLACE FUNCTION public.actor_policy(p_config jsonb, p_actor_type text DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH kind AS (
        SELECT p_actor_type IS NULL OR p_actor_type IN ('ollama', 'openai') AS calls_a_server,
               public.actor_policy_section_fits('retry', p_config -> 'retry') AS retry_fits,
               public.actor_policy_section_fits('breaker', p_config -> 'breaker') AS breaker_fits
    )
    SELECT jsonb_build_object(
        'retry', jsonb_build_object('max_attempts', CASE WHEN kind.calls_a_server THEN 3 ELSE 1 END,
                                    'base_seconds', 1, 'cap_seconds', 30)
                 || CASE WHEN kind.retry_fits THEN p_config -> 'retry' ELSE '{}' END,
        'breaker', '{"failure_threshold": 5, "window_seconds": 120, "reset_seconds": 60, "success_threshold": 2,
                     "half_open_probes": 1, "on_open": "fail", "count_rate_limits": false}'::jsonb
                 || jsonb_build_object('counts_failures', kind.calls_a_server OR kind.breaker_fits)
                 || CASE WHEN kind.breaker_fits THEN p_config -> 'breaker' ELSE '{}' END,
        'rate_limit', CASE WHEN public.actor_policy_section_fits('rate_limit', p_config -> 'rate_limit')
                           THEN p_config -> 'rate_limit' ELSE '{}' END)
      FROM kind;
$function$;
