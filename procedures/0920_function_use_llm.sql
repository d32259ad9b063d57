-- use_llm(mode, base_url): which actors run workflow 3001's model steps (extract_summary,
-- grade_summary, score_posting). Returns the steps switched, as 'conversation → actor'.
--   'local'   ordinary openai actors at base_url (a llama.cpp server: `turing llm start`), made or
--             updated here: local_summarizer (free text, at most 96 tokens), local_grader (the
--             answer constrained to "PASS" or "FAIL" by a JSON schema) and local_scorer (an integer
--             from 0 to 100); six calls in flight each, for a server of four slots; their
--             breakers are reset (a new server)
--   'offline' the python actors 3001 ships with (offline_summarizer, offline_grader, offline_scorer)
-- 3001 is strict: the switch commits only if it leaves the workflow valid.
CREATE OR REPLACE FUNCTION public.use_llm(p_mode text, p_base_url text DEFAULT NULL)
RETURNS SETOF text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    local_actors text[];
    switched integer;
BEGIN
    IF p_mode IS NULL OR p_mode NOT IN ('local', 'offline') THEN
        RAISE EXCEPTION 'use_llm() takes ''local'' or ''offline'', not %', quote_nullable(p_mode)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_mode = 'local' THEN
        IF p_base_url IS NULL OR p_base_url !~ '^https?://[^\s]+$' THEN
            RAISE EXCEPTION 'use_llm(''local'') needs the server''s base URL, e.g. http://127.0.0.1:8080/v1'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        WITH made AS (
            INSERT INTO public.actors (actor_name, actor_type, config, max_concurrency, timeout_seconds, description)
            SELECT local.actor_name, 'openai',
                   jsonb_build_object('base_url', p_base_url, 'model', 'SmolLM2-135M-Instruct', 'params', local.params)
                       || local.answer,
                   6, 60, local.description
              FROM (VALUES
                      ('local_summarizer', '{"max_tokens": 96, "temperature": 0.2, "seed": 3001}'::jsonb, '{}'::jsonb,
                       'SmolLM2-135M on the local llama.cpp server: the summary'),
                      ('local_grader', '{"max_tokens": 8, "temperature": 0}',
                       '{"response_format": {"type": "json_schema", "json_schema": {"name": "grade",
                          "schema": {"type": "string", "enum": ["PASS", "FAIL"]}}}}',
                       'SmolLM2-135M on the local llama.cpp server: PASS or FAIL'),
                      ('local_scorer', '{"max_tokens": 8, "temperature": 0}',
                       '{"response_format": {"type": "json_schema", "json_schema": {"name": "score",
                          "schema": {"type": "integer", "minimum": 0, "maximum": 100}}}}',
                       'SmolLM2-135M on the local llama.cpp server: a score from 0 to 100'))
                   AS local (actor_name, params, answer, description)
            ON CONFLICT (actor_name) DO UPDATE
               SET actor_type = excluded.actor_type, config = excluded.config, enabled = true,
                   max_concurrency = excluded.max_concurrency, timeout_seconds = excluded.timeout_seconds,
                   description = excluded.description
            RETURNING actor_name
        )
        SELECT array_agg(made.actor_name) INTO local_actors FROM made;
        -- a new server: what the breakers learnt of the last one no longer holds
        PERFORM public.reset_circuit_breaker(local_actor) FROM unnest(local_actors) AS local_actor;
    END IF;
    RETURN QUERY
    WITH switch (conversation, offline_actor, local_actor) AS (
        VALUES ('extract_summary', 'offline_summarizer', 'local_summarizer'),
               ('grade_summary', 'offline_grader', 'local_grader'),
               ('score_posting', 'offline_scorer', 'local_scorer')
    )
    UPDATE public.conversations AS conversation
       SET actor_id = actor.actor_id
      FROM switch
      JOIN public.actors AS actor
        ON actor.actor_name = CASE p_mode WHEN 'local' THEN switch.local_actor ELSE switch.offline_actor END
     WHERE conversation.canonical_name = switch.conversation
    RETURNING conversation.canonical_name || ' → ' || actor.actor_name;
    GET DIAGNOSTICS switched = ROW_COUNT;
    IF switched <> 3 THEN
        RAISE EXCEPTION 'use_llm(%) switched % of workflow 3001''s three model steps: a conversation or an '
                        'actor is missing', quote_literal(p_mode), switched
            USING ERRCODE = 'no_data_found';
    END IF;
END;
$function$;
