-- actor_policy(config): an actor's resilience settings with every default filled in, as
-- claim_chunk_v2() hands them to workers and actor_admit() / actor_settle() apply them:
--   retry      {max_attempts 3, base_seconds 1, cap_seconds 30}
--   breaker    {failure_threshold 5, window_seconds 120, reset_seconds 60, success_threshold 2,
--               half_open_probes 1, on_open "fail", count_rate_limits false}
--   rate_limit {requests_per_minute, tokens_per_minute}: absent means unlimited
-- A key the actor's config sets wins over its default. A section that does not fit its rules
-- (actor_policy_section_fits(); validate_workflow() refuses it) is ignored: the defaults hold, so a
-- bad config never breaks the gate or the circuit_breakers view.
CREATE OR REPLACE FUNCTION public.actor_policy(p_config jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT jsonb_build_object(
        'retry', '{"max_attempts": 3, "base_seconds": 1, "cap_seconds": 30}'::jsonb
                 || CASE WHEN public.actor_policy_section_fits('retry', p_config -> 'retry') THEN p_config -> 'retry' ELSE '{}' END,
        'breaker', '{"failure_threshold": 5, "window_seconds": 120, "reset_seconds": 60, "success_threshold": 2,
                     "half_open_probes": 1, "on_open": "fail", "count_rate_limits": false}'::jsonb
                 || CASE WHEN public.actor_policy_section_fits('breaker', p_config -> 'breaker') THEN p_config -> 'breaker' ELSE '{}' END,
        'rate_limit', CASE WHEN public.actor_policy_section_fits('rate_limit', p_config -> 'rate_limit')
                           THEN p_config -> 'rate_limit' ELSE '{}' END);
$function$;
