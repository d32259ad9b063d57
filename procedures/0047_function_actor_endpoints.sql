-- actor_endpoints(config, actor_type): the inference servers of an ollama or openai actor whose
-- config.url (ollama) or config.base_url (openai) is a list, as actor_admit() spreads calls over them:
--   [{"endpoint": "http://10.0.0.5:11434", "max_concurrency": 8 | null, "position": 1}, …]
-- Each element of the list is a URL, or {"url": URL, "max_concurrency": N} to cap that server's calls
-- in flight (across all workers; N a whole number 1-100000); the URLs are distinct. The endpoint is the URL without a trailing '/', and it is the key of
-- that server's circuit breaker (actor_gates.endpoint): reordering the list keeps every breaker. A URL
-- given as a string (one server), or a list that does not fit (validate_workflow() refuses it), is
-- NULL: the actor is its only endpoint.
CREATE OR REPLACE FUNCTION public.actor_endpoints(p_config jsonb, p_actor_type text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH listed AS (
        SELECT element.position,
               rtrim(CASE jsonb_typeof(element.value) WHEN 'string' THEN element.value #>> '{}'
                                                       ELSE element.value ->> 'url' END, '/') AS endpoint,
               CASE WHEN jsonb_typeof(element.value -> 'max_concurrency') = 'number'
                    THEN (element.value ->> 'max_concurrency')::numeric END AS max_concurrency,
               CASE jsonb_typeof(element.value)
                    WHEN 'string' THEN true
                    WHEN 'object' THEN element.value - ARRAY['url', 'max_concurrency'] = '{}'::jsonb
                                       AND jsonb_typeof(element.value -> 'url') = 'string'
                                       AND (NOT element.value ? 'max_concurrency'
                                            OR jsonb_typeof(element.value -> 'max_concurrency') = 'number')
                    ELSE false END AS shaped
          FROM (SELECT p_config -> CASE p_actor_type WHEN 'openai' THEN 'base_url' WHEN 'ollama' THEN 'url' END
                       AS servers) AS configured
         CROSS JOIN jsonb_array_elements(CASE WHEN jsonb_typeof(configured.servers) = 'array' THEN configured.servers
                                              ELSE '[]' END) WITH ORDINALITY AS element (value, position)
    )
    SELECT CASE WHEN count(*) > 0 AND bool_and(listed.shaped AND listed.endpoint ~ '^https?://[^\s]+$'
                                               AND coalesce(listed.max_concurrency BETWEEN 1 AND 100000
                                                            AND listed.max_concurrency % 1 = 0, true))
                     AND count(DISTINCT listed.endpoint) = count(*)
                THEN jsonb_agg(jsonb_build_object('endpoint', listed.endpoint,
                                                  'max_concurrency', listed.max_concurrency::integer,
                                                  'position', listed.position)
                               ORDER BY listed.position) END
      FROM listed;
$function$;
