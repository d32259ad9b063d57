-- workflow_graph_nodes(workflow_id, graph): the rows of workflow_graph(), from `graph` (its rows as
-- JSON, when a caller such as validate_workflow() computed them once for several checks) or computed.
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.workflow_graph_nodes(p_workflow_id integer, p_graph jsonb)
RETURNS TABLE (conversation_id integer, canonical_name text, reachable boolean, finishes boolean, cycle text,
               loops_to integer[], dom_pre integer, dom_post integer)
LANGUAGE sql
STABLE
AS $function$
    SELECT *
      FROM pg_catalog.jsonb_to_recordset(coalesce(
               p_graph, (SELECT pg_catalog.jsonb_agg(g) FROM public.workflow_graph(p_workflow_id) AS g)))
           AS node (conversation_id integer, canonical_name text, reachable boolean, finishes boolean, cycle text,
                    loops_to integer[], dom_pre integer, dom_post integer);
$function$;
