-- Check: every step (and the global error handler) has an actor that exists, is enabled, and whose
-- config fits its type: ollama/openai name a model and an http(s) URL, or a list of them
-- (actor_endpoints(); ollama's url is optional, openai's base_url is not) and give their optional keys the right types, with the messages of their
-- builders (turing_db.actors.ollama/openai); python a 'module:function' callable; shell a non-empty
-- argv list of strings and, if any, an `env` list of variable names that are not secrets. For every
-- type, the retry, breaker, rate_limit and cache settings must fit actor_policy_problems(). A shell actor's
-- config.env must not name a variable that any actor's config.api_key_env names.
CREATE OR REPLACE FUNCTION public.workflow_check_actors(p_workflow_id integer)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    WITH executed AS (
        SELECT * FROM public.workflow_executed(p_workflow_id)
    ), problem AS MATERIALIZED (
        -- each actor's config once, however many steps use it (inlined, it ran once per step)
        SELECT actor.actor_id,
               nullif(concat_ws('; ', CASE actor.actor_type
                   -- ollama and openai: the rules of turing_db.actors.ollama/openai, in their order (the
                   -- openai builder also needs config.api_key_env's variable set: the environment is not here)
                   WHEN 'ollama' THEN nullif(concat_ws('; ',
                        CASE WHEN jsonb_typeof(actor.config -> 'model') IS DISTINCT FROM 'string'
                                  OR btrim(actor.config ->> 'model') = ''
                             THEN 'config.model must name a model, e.g. {"model": "gemma3:4b"}' END,
                        CASE WHEN jsonb_typeof(actor.config -> 'url') = 'array'
                             THEN CASE WHEN actor.endpoints IS NULL THEN 'config.url as a list must hold distinct http(s) URLs, '
                                                                     'each a URL or {"url": URL, "max_concurrency": '
                                                                     'a whole number 1-100000}' END
                             WHEN actor.config ? 'url'
                                  AND (jsonb_typeof(actor.config -> 'url') <> 'string'
                                       OR actor.config ->> 'url' !~ '^https?://[^\s]+$')
                             THEN 'config.url must be an http(s) URL' END,
                        CASE WHEN actor.config ? 'api'
                                  AND (jsonb_typeof(actor.config -> 'api') <> 'string'
                                       OR actor.config ->> 'api' NOT IN ('generate', 'chat'))
                             THEN 'config.api must be "generate" or "chat"' END,
                        CASE WHEN actor.config ? 'system' AND jsonb_typeof(actor.config -> 'system') <> 'string'
                             THEN 'config.system must be a string' END,
                        CASE WHEN actor.config ? 'options' AND jsonb_typeof(actor.config -> 'options') <> 'object'
                             THEN 'config.options must be an object' END,
                        CASE WHEN actor.config ? 'format' AND actor.config -> 'format' <> '"json"'::jsonb
                                  AND jsonb_typeof(actor.config -> 'format') <> 'object'
                             THEN 'config.format must be "json" or a JSON Schema object' END,
                        CASE WHEN actor.config ? 'keep_alive'
                                  AND jsonb_typeof(actor.config -> 'keep_alive') NOT IN ('string', 'number')
                             THEN 'config.keep_alive must be a string or a number of seconds, e.g. "5m"' END), '')
                   WHEN 'openai' THEN nullif(concat_ws('; ',
                        CASE WHEN jsonb_typeof(actor.config -> 'model') IS DISTINCT FROM 'string'
                                  OR btrim(actor.config ->> 'model') = ''
                             THEN 'config.model must name a model' END,
                        CASE WHEN jsonb_typeof(actor.config -> 'base_url') = 'array'
                             THEN CASE WHEN actor.endpoints IS NULL THEN 'config.base_url as a list must hold distinct http(s) '
                                                                     'URLs, each a URL or {"url": URL, "max_concurrency": '
                                                                     'a whole number 1-100000}' END
                             WHEN jsonb_typeof(actor.config -> 'base_url') IS DISTINCT FROM 'string'
                                  OR actor.config ->> 'base_url' !~ '^https?://[^\s]+$'
                             THEN 'config.base_url must be an http(s) URL, e.g. {"base_url": "http://127.0.0.1:8000/v1"}' END,
                        CASE WHEN actor.config ? 'system' AND jsonb_typeof(actor.config -> 'system') <> 'string'
                             THEN 'config.system must be a string' END,
                        CASE WHEN actor.config ? 'params'
                                  AND (jsonb_typeof(actor.config -> 'params') <> 'object'
                                       OR actor.config -> 'params' ?| ARRAY['model', 'messages', 'stream', 'response_format'])
                             THEN 'config.params must be an object of request fields (not model, messages, stream or '
                                  'response_format)' END,
                        CASE WHEN actor.config ? 'response_format'
                                  AND jsonb_typeof(actor.config -> 'response_format') <> 'object'
                             THEN 'config.response_format must be an object, e.g. {"type": "json_object"}' END,
                        CASE WHEN actor.config ? 'api_key_env'
                                  AND (jsonb_typeof(actor.config -> 'api_key_env') <> 'string'
                                       OR actor.config ->> 'api_key_env' !~ '^[A-Za-z_][A-Za-z0-9_]*$')
                             THEN 'config.api_key_env must name an environment variable (letters, digits and _), not '
                                  'hold the key' END), '')
                   WHEN 'python' THEN
                        CASE WHEN coalesce(actor.config ->> 'callable', '')
                                  !~ '^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$'
                             THEN 'config.callable must be "package.module:function"' END
                   WHEN 'shell' THEN nullif(concat_ws('; ',
                        CASE WHEN jsonb_typeof(actor.config -> 'command') IS DISTINCT FROM 'array'
                                  OR jsonb_array_length(actor.config -> 'command') = 0
                                  OR EXISTS (SELECT 1 FROM jsonb_array_elements(actor.config -> 'command') AS arg
                                              WHERE jsonb_typeof(arg) <> 'string' OR arg #>> '{}' = '')
                             THEN 'config.command must be a non-empty list of strings, e.g. {"command": ["python3", "script.py"]}' END,
                        -- config.env: names passed through to the command, never a secret's
                        CASE WHEN NOT actor.config ? 'env' THEN NULL
                             WHEN jsonb_typeof(actor.config -> 'env') IS DISTINCT FROM 'array'
                                  OR EXISTS (SELECT 1 FROM jsonb_array_elements(actor.config -> 'env') AS name
                                              WHERE jsonb_typeof(name) <> 'string'
                                                 OR name #>> '{}' !~ '^[A-Za-z_][A-Za-z0-9_]*$')
                             THEN 'config.env must be a list of environment variable names (letters, digits and _, '
                                  'not starting with a digit), e.g. {"env": ["OLLAMA_HOST"]}'
                             ELSE (SELECT 'config.env must not pass secrets to a command (TURING_DATABASE_URL, '
                                          'TURING_DB_PASSWORD, PGPASSWORD, or a name containing KEY, TOKEN, SECRET or '
                                          'PASSWORD): ' || string_agg(element.name #>> '{}', ', ' ORDER BY element.position)
                                     FROM jsonb_array_elements(actor.config -> 'env') WITH ORDINALITY AS element (name, position)
                                    WHERE upper(element.name #>> '{}') IN ('TURING_DATABASE_URL', 'TURING_DB_PASSWORD', 'PGPASSWORD')
                                       OR upper(element.name #>> '{}') ~ '(KEY|TOKEN|SECRET|PASSWORD)')
                        END), '')
               END,
               -- both HTTP types, after their own rules (turing_db.actors.http.check_reask)
               CASE WHEN actor.actor_type IN ('ollama', 'openai') AND actor.config ? 'reask'
                         AND CASE WHEN jsonb_typeof(actor.config -> 'reask') = 'number'  -- cast numbers only
                                  THEN (actor.config ->> 'reask')::numeric NOT BETWEEN 0 AND 5
                                       OR (actor.config ->> 'reask')::numeric % 1 <> 0
                                  ELSE true END
                    THEN 'config.reask must be a whole number from 0 to 5' END,
               public.actor_policy_problems(actor.config),
               -- a python or shell actor's answer depends on more than its prompt (the posting's fields)
               CASE WHEN actor.actor_type NOT IN ('ollama', 'openai') AND actor.config ? 'cache'
                    THEN 'config.cache is for ollama and openai actors (a python or shell actor''s answer depends on more '
                         'than its prompt)' END), '') AS config_problem
          FROM public.actors AS actor
         WHERE actor.actor_id IN (SELECT executed.actor_id FROM executed)
    ), configured AS (
        SELECT executed.canonical_name, actor.*, problem.config_problem
          FROM executed
          JOIN public.actors AS actor ON actor.actor_id = executed.actor_id
          JOIN problem ON problem.actor_id = actor.actor_id
    )
    SELECT 'error', 'actor_missing', executed.canonical_name,
           format('conversation %s has no actor: set conversations.actor_id', executed.canonical_name)
      FROM executed WHERE executed.actor_id IS NULL
    UNION ALL
    SELECT 'error', 'actor_disabled', configured.canonical_name,
           format('actor %s (actor_id %s) of conversation %s is disabled: enable it or give the conversation '
                  'another actor', configured.actor_name, configured.actor_id, configured.canonical_name)
      FROM configured WHERE NOT configured.enabled
    UNION ALL
    SELECT 'error', 'actor_config', configured.canonical_name,
           format('actor %s (%s) of conversation %s: %s', configured.actor_name, configured.actor_type,
                  configured.canonical_name, configured.config_problem)
      FROM configured WHERE configured.config_problem IS NOT NULL
    UNION ALL
    -- a shell command must not be handed a variable that holds an API key, whatever its name says
    SELECT 'error', 'actor_secret_env', configured.canonical_name,
           format('actor %s (shell) of conversation %s: config.env must not pass %s: it holds the API key '
                  'of actor %s (its config.api_key_env)', configured.actor_name, configured.canonical_name,
                  passed.name, keyed.actor_name)
      FROM configured
     CROSS JOIN LATERAL jsonb_array_elements_text(
               CASE WHEN jsonb_typeof(configured.config -> 'env') = 'array' THEN configured.config -> 'env'
                    ELSE '[]' END) AS passed (name)
      JOIN public.actors AS keyed ON keyed.config ->> 'api_key_env' = passed.name
     WHERE configured.actor_type = 'shell';
$function$;
