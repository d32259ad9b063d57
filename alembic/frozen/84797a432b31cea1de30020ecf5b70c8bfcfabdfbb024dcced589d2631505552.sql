-- actor_policy_problems(config): what is wrong with an actor's retry, breaker and rate_limit settings
-- (NULL when nothing is), in the words workflow_check_actors() reports and the Python builders use
-- (turing_db.actors.policy), one rule per section that does not fit actor_policy_section_fits().
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
                                     '"tokens_per_minute": numbers > 0}')) AS sections (section, position, rule)
     WHERE p_config ? sections.section
       AND NOT public.actor_policy_section_fits(sections.section, p_config -> sections.section);
$function$;
