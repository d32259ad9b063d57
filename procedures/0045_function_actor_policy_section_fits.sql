-- actor_policy_section_fits(section, value): does one of an actor's retry, breaker or rate_limit
-- settings have its shape? Each, when present, must be an object of known keys:
--   retry      max_attempts (a whole number 1-10), base_seconds, cap_seconds (numbers 0 to 10^9)
--   breaker    failure_threshold, success_threshold, half_open_probes (whole numbers 1 to 10^6),
--              window_seconds, reset_seconds (numbers above 0, at most 10^9), on_open ("fail" or
--              "wait"), count_rate_limits (true or false)
--   rate_limit requests_per_minute, tokens_per_minute (numbers above 0, at most 10^12)
-- An unknown key is refused too: a misspelt one would otherwise be ignored in silence. An absent
-- section (NULL) is false, never NULL.
CREATE OR REPLACE FUNCTION public.actor_policy_section_fits(p_section text, p_value jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH rules (section, key, kind) AS (
        VALUES ('retry', 'max_attempts', 'attempts'), ('retry', 'base_seconds', 'seconds'),
               ('retry', 'cap_seconds', 'seconds'),
               ('breaker', 'failure_threshold', 'count'), ('breaker', 'success_threshold', 'count'),
               ('breaker', 'half_open_probes', 'count'), ('breaker', 'window_seconds', 'period'),
               ('breaker', 'reset_seconds', 'period'), ('breaker', 'on_open', 'on_open'),
               ('breaker', 'count_rate_limits', 'boolean'),
               ('rate_limit', 'requests_per_minute', 'rate'), ('rate_limit', 'tokens_per_minute', 'rate')
    )
    SELECT coalesce(jsonb_typeof(p_value) = 'object', false)  -- an absent section (NULL) does not fit
           AND NOT EXISTS (
               SELECT 1
                 FROM jsonb_each(p_value) AS given (key, value)
                 LEFT JOIN rules ON rules.section = p_section AND rules.key = given.key
                WHERE rules.kind IS NULL  -- an unknown key
                   OR NOT CASE rules.kind
                          WHEN 'on_open' THEN given.value IN ('"fail"', '"wait"')
                          WHEN 'boolean' THEN jsonb_typeof(given.value) = 'boolean'
                          ELSE jsonb_typeof(given.value) = 'number' AND CASE rules.kind
                               WHEN 'attempts' THEN (given.value #>> '{}')::numeric BETWEEN 1 AND 10
                                                    AND (given.value #>> '{}')::numeric % 1 = 0
                               WHEN 'count' THEN (given.value #>> '{}')::numeric BETWEEN 1 AND 1e6
                                                 AND (given.value #>> '{}')::numeric % 1 = 0
                               WHEN 'seconds' THEN (given.value #>> '{}')::numeric BETWEEN 0 AND 1e9
                               WHEN 'period' THEN (given.value #>> '{}')::numeric > 0
                                                  AND (given.value #>> '{}')::numeric <= 1e9
                               ELSE (given.value #>> '{}')::numeric > 0 AND (given.value #>> '{}')::numeric <= 1e12 END
                          END);
$function$;
