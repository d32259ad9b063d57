-- actor_policy_problems(config): what is wrong with an actor's retry, breaker and rate_limit settings
-- (NULL when nothing is), in the words workflow_check_actors() reports and the Python builders use
-- (turing_db.resilience.policy_problem). Each section, when present, must be an object of known keys:
--   retry      max_attempts (a whole number 1-10), base_seconds, cap_seconds (numbers >= 0)
--   breaker    failure_threshold, success_threshold, half_open_probes (whole numbers >= 1),
--              window_seconds, reset_seconds (numbers > 0), on_open ("fail" or "wait"),
--              count_rate_limits (true or false)
--   rate_limit requests_per_minute, tokens_per_minute (numbers > 0)
-- An unknown key is refused too: a misspelt one would otherwise be ignored in silence.
CREATE OR REPLACE FUNCTION public.actor_policy_problems(p_config jsonb)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH rules (section, key, kind) AS (
        VALUES ('retry', 'max_attempts', 'attempts'), ('retry', 'base_seconds', 'non_negative'),
               ('retry', 'cap_seconds', 'non_negative'),
               ('breaker', 'failure_threshold', 'count'), ('breaker', 'success_threshold', 'count'),
               ('breaker', 'half_open_probes', 'count'), ('breaker', 'window_seconds', 'positive'),
               ('breaker', 'reset_seconds', 'positive'), ('breaker', 'on_open', 'on_open'),
               ('breaker', 'count_rate_limits', 'boolean'),
               ('rate_limit', 'requests_per_minute', 'positive'), ('rate_limit', 'tokens_per_minute', 'positive')
    ), sections (section, position, rule) AS (
        VALUES ('retry', 1, 'config.retry must be an object: {"max_attempts": a whole number 1-10, '
                            '"base_seconds": >= 0, "cap_seconds": >= 0}'),
               ('breaker', 2, 'config.breaker must be an object: {"failure_threshold", "success_threshold", '
                              '"half_open_probes": whole numbers >= 1, "window_seconds", "reset_seconds": > 0, '
                              '"on_open": "fail" or "wait", "count_rate_limits": true or false}'),
               ('rate_limit', 3, 'config.rate_limit must be an object: {"requests_per_minute", '
                                 '"tokens_per_minute": numbers > 0}')
    ), broken AS (
        SELECT sections.position, sections.rule
          FROM sections
         WHERE p_config ? sections.section
           AND (jsonb_typeof(p_config -> sections.section) IS DISTINCT FROM 'object'
                OR EXISTS (
                    SELECT 1
                      FROM jsonb_each(p_config -> sections.section) AS given (key, value)
                      LEFT JOIN rules ON rules.section = sections.section AND rules.key = given.key
                     WHERE rules.kind IS NULL  -- an unknown key
                        OR NOT CASE rules.kind
                               WHEN 'on_open' THEN given.value IN ('"fail"', '"wait"')
                               WHEN 'boolean' THEN jsonb_typeof(given.value) = 'boolean'
                               ELSE jsonb_typeof(given.value) = 'number' AND CASE rules.kind
                                    WHEN 'attempts' THEN (given.value #>> '{}')::numeric BETWEEN 1 AND 10
                                                         AND (given.value #>> '{}')::numeric % 1 = 0
                                    WHEN 'count' THEN (given.value #>> '{}')::numeric >= 1
                                                      AND (given.value #>> '{}')::numeric % 1 = 0
                                    WHEN 'non_negative' THEN (given.value #>> '{}')::numeric >= 0
                                    ELSE (given.value #>> '{}')::numeric > 0 END
                               END))
    )
    SELECT string_agg(broken.rule, '; ' ORDER BY broken.position) FROM broken;
$function$;
