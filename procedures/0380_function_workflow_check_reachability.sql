-- Check: every step can be reached from an entry point by following branches. p_graph:
-- see workflow_graph_nodes().
CREATE OR REPLACE FUNCTION public.workflow_check_reachability(
    p_workflow_id integer,
    p_graph public.workflow_graph_node[] DEFAULT NULL)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off
AS $function$
    SELECT 'error', 'unreachable', graph.canonical_name,
           format('conversation %s cannot be reached from any entry point: add a branch to it, make it an '
                  'entry point, or disable it in the workflow', graph.canonical_name)
      FROM public.workflow_graph_nodes(p_workflow_id, p_graph) AS graph
     WHERE NOT graph.reachable
       AND EXISTS (SELECT 1 FROM public.workflow_steps(p_workflow_id) AS entry WHERE entry.is_entry_point);
$function$;
