-- Check: every step (and the global error handler) has an actor that exists, is enabled, and whose
-- config fits its type: ollama/openai name a model (and an http(s) url if any), python a
-- 'module:function' callable, shell a non-empty argv list of strings and, if any, an `env` list of
-- variable names that are not secrets.
CREATE OR REPLACE FUNCTION public.workflow_check_actors(p_workflow_id integer)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    WITH executed AS (
        SELECT * FROM public.workflow_executed(p_workflow_id)
    ), configured AS (
        SELECT executed.canonical_name, actor.*,
               CASE actor.actor_type
                   WHEN 'ollama' THEN nullif(concat_ws('; ',
                        CASE WHEN jsonb_typeof(actor.config -> 'model') IS DISTINCT FROM 'string'
                                  OR btrim(actor.config ->> 'model') = ''
                             THEN 'config.model must name a model, e.g. {"model": "gemma3:4b"}' END,
                        CASE WHEN actor.config ? 'url' AND coalesce(actor.config ->> 'url', '') !~ '^https?://[^\s]+$'
                             THEN 'config.url must be an http(s) URL' END), '')
                   WHEN 'openai' THEN nullif(concat_ws('; ',
                        CASE WHEN jsonb_typeof(actor.config -> 'model') IS DISTINCT FROM 'string'
                                  OR btrim(actor.config ->> 'model') = ''
                             THEN 'config.model must name a model' END,
                        CASE WHEN actor.config ? 'url' AND coalesce(actor.config ->> 'url', '') !~ '^https?://[^\s]+$'
                             THEN 'config.url must be an http(s) URL' END), '')
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
               END AS config_problem
          FROM executed
          JOIN public.actors AS actor ON actor.actor_id = executed.actor_id
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
      FROM configured WHERE configured.config_problem IS NOT NULL;
$function$;
