-- response_cache_key(actor_type, config, prompt): the key a cached answer is stored under: the SHA-256
-- (hex) of what determines the answer: the actor's type, its config without the keys that only say
-- where or how the call is made (url, base_url, api_key_env, keep_alive, retry, breaker, rate_limit,
-- cache, cache_ttl_seconds), so the model, api, system, options, format, params, response_format and
-- reask stay, and the rendered prompt. jsonb's text form is canonical (keys sorted), so two configs
-- that are equal as JSON give the same key; actors that share all of these share their answers.
CREATE OR REPLACE FUNCTION public.response_cache_key(p_actor_type text, p_config jsonb, p_prompt text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT encode(sha256(convert_to(jsonb_build_array(
               p_actor_type,
               p_config - ARRAY['url', 'base_url', 'api_key_env', 'keep_alive', 'retry', 'breaker', 'rate_limit',
                                'cache', 'cache_ttl_seconds'],
               p_prompt)::text, 'UTF8')), 'hex');
$function$;
