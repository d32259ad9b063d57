-- workflow_graph_nodes(workflow_id, graph): the rows of workflow_graph(), from `graph` when a caller
-- such as validate_workflow() computed them once for several checks, else computed here.
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.workflow_graph_nodes(p_workflow_id integer, p_graph public.workflow_graph_node[])
RETURNS SETOF public.workflow_graph_node
LANGUAGE sql
STABLE
AS $function$
    SELECT * FROM pg_catalog.unnest(p_graph) WHERE p_graph IS NOT NULL
    UNION ALL
    SELECT * FROM public.workflow_graph(p_workflow_id) WHERE p_graph IS NULL;
$function$;
