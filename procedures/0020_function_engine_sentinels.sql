-- engine_sentinels(): the engine's error outcomes, listed once. An actor returns an output or one
-- of these; a branch whose condition names one catches exactly that outcome (branch_matches():
-- a condition in brackets names an outcome). validate_workflow() reads this list for the outcomes
-- each step must handle and for the bracketed conditions it knows; complete_chunk() sets [FAILED]
-- and [LOOP_LIMIT]; turing_db.actors.SENTINELS, and every bracketed literal in procedures/ and
-- turing_db/, are tested equal to it (tests/integration/test_sentinels_are_defined_once.py).
--   actor_types: the actors whose steps can produce it (NULL: every type; empty: no step, the
--   completion sets it on a route).
CREATE OR REPLACE FUNCTION public.engine_sentinels()
RETURNS TABLE (sentinel text, actor_types text[], meaning text)
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    VALUES ('[ERROR]',        NULL::text[],               'the actor raised, exited non-zero or could not be built'),
           ('[TIMEOUT]',      NULL,                       'the actor overran actors.timeout_seconds'),
           ('[FAILED]',       NULL,                       'the output is unusable: not text, or refused by the stage column it saves'),
           ('[CIRCUIT_OPEN]', ARRAY['ollama', 'openai'],  'the actor''s circuit breaker is open: it was not called'),
           ('[LOOP_LIMIT]',   ARRAY[]::text[],            'the chosen branch leads into a conversation whose max_visits is spent');
$function$;
