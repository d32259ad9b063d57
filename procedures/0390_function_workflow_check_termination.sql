-- Check: every step can finish. A step with no branch, or from which no path of branches
-- reaches an end (a NULL target or the error handler), is a dead end; when it lies on a cycle, that
-- cycle has no exit. A step without a '*' branch sends unmatched outputs to the error handler
-- (warning). A loop (a branch that re-enters a step still on the current path) is bounded when the step
-- it re-enters or the step it leaves has max_visits (warning otherwise). p_graph and
-- p_branches: see workflow_graph_nodes() and workflow_branch_list().
CREATE OR REPLACE FUNCTION public.workflow_check_termination(
    p_workflow_id integer,
    p_graph public.workflow_graph_node[] DEFAULT NULL,
    p_branches public.workflow_branch[] DEFAULT NULL)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off
AS $function$
    WITH graph AS (
        SELECT graph.*, step.max_visits
          FROM public.workflow_graph_nodes(p_workflow_id, p_graph) AS graph
          JOIN public.workflow_steps(p_workflow_id) AS step ON step.conversation_id = graph.conversation_id
    ), branch AS (
        SELECT * FROM public.workflow_branch_list(p_workflow_id, p_branches)
    )
    SELECT 'error', 'dead_end', graph.canonical_name,
           CASE WHEN NOT EXISTS (SELECT 1 FROM branch WHERE branch.conversation_id = graph.conversation_id)
                THEN format('conversation %s has no enabled branch: a posting stops there unfinished; add '
                            'one, e.g. ''*'' → NULL to end', graph.canonical_name)
                ELSE format('no path of branches from conversation %s reaches an end: add a branch to NULL '
                            '(end) or to a step that finishes', graph.canonical_name)
           END
      FROM graph
     WHERE NOT graph.finishes AND graph.cycle IS NULL
    UNION ALL
    SELECT 'error', 'cycle_without_exit', graph.canonical_name,
           format('conversation %s is in a cycle with no way out (%s): add a branch that leaves the cycle',
                  graph.canonical_name, graph.cycle)
      FROM graph
     WHERE NOT graph.finishes AND graph.cycle IS NOT NULL
    UNION ALL
    SELECT 'warning', 'no_fallback_branch', graph.canonical_name,
           format('conversation %s has no ''*'' branch: outputs matching none of %s go to the error handler',
                  graph.canonical_name,
                  (SELECT string_agg(quote_literal(b.branch_condition), ', ' ORDER BY b.branch_rank)
                     FROM branch AS b
                    WHERE b.conversation_id = graph.conversation_id AND b.branch_condition !~ '^\[[A-Z_]+\]$'))
      FROM graph
     WHERE EXISTS (SELECT 1 FROM branch WHERE branch.conversation_id = graph.conversation_id)
       AND NOT EXISTS (SELECT 1 FROM branch
                        WHERE branch.conversation_id = graph.conversation_id AND branch.branch_condition = '*')
    UNION ALL
    SELECT DISTINCT 'warning', 'unbounded_loop', head.canonical_name,
           format('the branch from %s back to %s forms a loop that nothing bounds: set '
                  'workflow_conversations.max_visits on %s', source.canonical_name, head.canonical_name,
                  head.canonical_name)
      FROM graph AS source
     CROSS JOIN LATERAL unnest(source.loops_to) AS loop (head_id)
      JOIN graph AS head ON head.conversation_id = loop.head_id
     WHERE source.finishes AND source.max_visits IS NULL AND head.max_visits IS NULL;
$function$;
