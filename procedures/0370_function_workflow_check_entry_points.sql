-- Check: the workflow has an entry point, and every stage routes to exactly one entry point
-- (see workflow_stage_entries()).
CREATE OR REPLACE FUNCTION public.workflow_check_entry_points(p_workflow_id integer)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    SELECT 'error', 'entry_point_missing', NULL::text,
           format('workflow %s has no enabled entry point: set workflow_conversations.is_entry_point on '
                  'the step where postings start', p_workflow_id)
     WHERE EXISTS (SELECT 1 FROM public.workflow_steps(p_workflow_id))
       AND NOT EXISTS (SELECT 1 FROM public.workflow_steps(p_workflow_id) AS step WHERE step.is_entry_point)
    UNION ALL
    SELECT 'error', 'stage_entry', NULL,
           CASE cardinality(route.entry_conversation_ids)
               WHEN 0 THEN format('postings lacking %s have no entry point: mark a step with is_entry_point '
                                  'and entry_stage = %L (or add an entry point without a stage)',
                                  route.stage_name, route.stage_name)
               ELSE format('postings lacking %s could enter at %s entry points (%s): keep one',
                           route.stage_name, cardinality(route.entry_conversation_ids),
                           (SELECT string_agg(c.canonical_name, ', ' ORDER BY c.canonical_name)
                              FROM public.conversations AS c
                             WHERE c.conversation_id = ANY (route.entry_conversation_ids)))
           END
      FROM public.workflow_stage_entries(p_workflow_id) AS route
     WHERE cardinality(route.entry_conversation_ids) <> 1
       AND EXISTS (SELECT 1 FROM public.workflow_steps(p_workflow_id) AS step WHERE step.is_entry_point);
$function$;
