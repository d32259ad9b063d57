-- actor_policy_problems(config): what is wrong with an actor's retry, breaker, rate_limit and cache
-- settings (NULL when nothing is), in the words workflow_check_actors() reports and the Python builders
-- use (turing_db.actors.policy), one rule per section that does not fit actor_policy_section_fits(),
-- then cache (true or false) and cache_ttl_seconds (seconds above 0, at most 10^9).
CREATE OR REPLACE FUNCTION public.actor_policy_problems(p_config jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT string_agg(sections.rule, '; ' ORDER BY sections.position)
      FROM (VALUES ('retry', 1, 'config.retry must be an object: {"max_attempts": a whole number 1-10, '
                                '"base_seconds": >= 0, "cap_seconds": >= 0}'),
                   ('breaker', 2, 'config.breaker must be an object: {"failure_threshold", "success_threshold", '
                                  '"half_open_probes": whole numbers >= 1, "window_seconds", "reset_seconds": > 0, '
                                  '"on_open": "fail" or "wait", "count_rate_limits": true or false}'),
                   ('rate_limit', 3, 'config.rate_limit must be an object: {"requests_per_minute", '
                                     '"tokens_per_minute": numbers > 0}'),
                   ('cache', 4, 'config.cache must be true or false'),
                   ('cache_ttl_seconds', 5, 'config.cache_ttl_seconds must be a number of seconds above 0 (at most 10^9)'))
           AS sections (section, position, rule)
     WHERE p_config ? sections.section
       AND NOT CASE sections.section
                   WHEN 'cache' THEN jsonb_typeof(p_config -> 'cache') = 'boolean'
                   WHEN 'cache_ttl_seconds' THEN CASE WHEN jsonb_typeof(p_config -> 'cache_ttl_seconds') = 'number'
                                                      THEN (p_config ->> 'cache_ttl_seconds')::numeric > 0
                                                           AND (p_config ->> 'cache_ttl_seconds')::numeric <= 1e9
                                                      ELSE false END
                   ELSE public.actor_policy_section_fits(sections.section, p_config -> sections.section) END;
$function$;
