-- Check: an error outcome always has somewhere to go. Without the enabled global error handler, each
-- step needs a branch for every sentinel its actor can produce (engine_sentinels(): [ERROR],
-- [TIMEOUT] and [FAILED] for every actor, [CIRCUIT_OPEN] for the HTTP actors).
-- p_branches: see workflow_branch_list().
CREATE OR REPLACE FUNCTION public.workflow_check_error_handling(
    p_workflow_id integer,
    p_branches public.workflow_branch[] DEFAULT NULL)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    WITH handler AS (
        SELECT 1 FROM public.conversations AS c
         WHERE c.conversation_type = 'error_handler' AND c.enabled
           AND EXISTS (SELECT 1 FROM public.instructions AS i WHERE i.conversation_id = c.conversation_id AND i.enabled)
    ), unhandled AS (
        SELECT step.canonical_name,
               array_agg(outcome.sentinel ORDER BY outcome.sentinel) AS sentinels
          FROM public.workflow_steps(p_workflow_id) AS step
          JOIN public.actors AS actor ON actor.actor_id = step.actor_id
          JOIN public.engine_sentinels() AS outcome
            ON outcome.actor_types IS NULL OR actor.actor_type = ANY (outcome.actor_types)
         WHERE NOT EXISTS (SELECT 1 FROM public.workflow_branch_list(p_workflow_id, p_branches) AS branch
                            WHERE branch.conversation_id = step.conversation_id
                              AND branch.branch_condition = outcome.sentinel)
         GROUP BY step.canonical_name
    )
    SELECT 'error', 'error_unhandled', unhandled.canonical_name,
           format('conversation %s has no branch for %s and there is no enabled global error handler: add '
                  'those branches or enable the error_handler conversation', unhandled.canonical_name,
                  array_to_string(unhandled.sentinels, ', '))
      FROM unhandled
     WHERE NOT EXISTS (SELECT 1 FROM handler);
$function$;
