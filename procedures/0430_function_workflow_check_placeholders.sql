-- Check: every placeholder of a step's template can be rendered. '{name}' must be a postings column;
-- '{output:<canonical_name>}' must name a step of this workflow that runs before this one on every
-- path from the entry points (it dominates it; warning when only some paths run it, error when none
-- does); a lone brace or any other '{...}' is malformed ('{{' and '}}' write literal braces). The
-- global error handler may use postings columns only. p_graph and p_branches: see
-- workflow_graph_nodes() and workflow_branch_list().
-- The tokens are read from instructions.placeholders (parsed when the template was written).
CREATE OR REPLACE FUNCTION public.workflow_check_placeholders(
    p_workflow_id integer,
    p_graph public.workflow_graph_node[] DEFAULT NULL,
    p_branches public.workflow_branch[] DEFAULT NULL)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    WITH RECURSIVE step AS (
        SELECT * FROM public.workflow_steps(p_workflow_id)
    ), rendered AS (
        SELECT executed.conversation_id, executed.canonical_name, executed.is_handler, token.*
          FROM public.workflow_executed(p_workflow_id) AS executed
          JOIN public.instructions AS instruction
            ON instruction.conversation_id = executed.conversation_id AND instruction.enabled
         CROSS JOIN LATERAL pg_catalog.jsonb_to_recordset(instruction.placeholders) AS token (token text, kind text, name text)
    ), graph AS (
        SELECT * FROM public.workflow_graph_nodes(p_workflow_id, p_graph) AS graph
    ), output_use AS (
        SELECT rendered.canonical_name, rendered.conversation_id, rendered.token, rendered.name,
               source.conversation_id AS source_id, source_node.reachable AS source_reachable,
               coalesce(source_node.dom_pre < user_node.dom_pre AND user_node.dom_post < source_node.dom_post,
                        false) AS on_every_path
          FROM rendered
          LEFT JOIN public.conversations AS named ON named.canonical_name = rendered.name  -- by index
          LEFT JOIN step AS source ON source.conversation_id = named.conversation_id
          LEFT JOIN graph AS source_node ON source_node.conversation_id = source.conversation_id
          LEFT JOIN graph AS user_node ON user_node.conversation_id = rendered.conversation_id
         WHERE rendered.kind = 'output' AND NOT rendered.is_handler
    ), edge AS (
        SELECT DISTINCT branch.conversation_id AS source, branch.next_conversation_id AS target
          FROM public.workflow_branch_list(p_workflow_id, p_branches) AS branch WHERE branch.target_kind = 'step'
    ), downstream (origin, conversation_id) AS (
        SELECT DISTINCT use.source_id, edge.target
          FROM output_use AS use JOIN edge ON edge.source = use.source_id
         WHERE use.source_id IS NOT NULL AND NOT use.on_every_path
        UNION
        SELECT downstream.origin, edge.target FROM downstream JOIN edge ON edge.source = downstream.conversation_id
    )
    SELECT 'error', 'malformed_placeholder', rendered.canonical_name,
           format('the template of %s has a malformed placeholder %L: placeholders are {column} or '
                  '{output:canonical_name}; write {{ and }} for literal braces',
                  rendered.canonical_name, rendered.token)
      FROM rendered WHERE rendered.kind = 'malformed'
    UNION ALL
    SELECT 'error', 'unknown_placeholder', rendered.canonical_name,
           format('the template of %s uses %s, but postings has no column %L', rendered.canonical_name,
                  rendered.token, rendered.name)
      FROM rendered
     WHERE rendered.kind = 'column'
       AND NOT EXISTS (SELECT 1 FROM public.posting_columns() AS posting_column
                        WHERE posting_column.column_name = rendered.name)
    UNION ALL
    SELECT 'error', 'unknown_placeholder', rendered.canonical_name,
           format('the template of the global error handler %s uses %s: it serves every workflow, so it '
                  'may use postings columns only', rendered.canonical_name, rendered.token)
      FROM rendered WHERE rendered.kind = 'output' AND rendered.is_handler
    UNION ALL
    SELECT 'error', 'unknown_output', use.canonical_name,
           format('the template of %s uses %s, but %s is not a step of workflow %s', use.canonical_name,
                  use.token, use.name, p_workflow_id)
      FROM output_use AS use WHERE use.source_id IS NULL
    UNION ALL
    SELECT CASE WHEN reaches.yes THEN 'warning' ELSE 'error' END,
           CASE WHEN reaches.yes THEN 'output_on_some_paths' ELSE 'output_never_before' END,
           use.canonical_name,
           CASE
               WHEN use.source_id = use.conversation_id
                   THEN format('the template of %s uses its own output %s: it is empty on the first visit',
                               use.canonical_name, use.token)
               WHEN reaches.yes
                   THEN format('the template of %s uses %s, but some paths reach %s without running %s: '
                               'there it renders as empty', use.canonical_name, use.token, use.canonical_name, use.name)
               ELSE format('the template of %s uses %s, but %s never runs before %s', use.canonical_name,
                           use.token, use.name, use.canonical_name)
           END
      FROM output_use AS use
     CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM downstream
                                         WHERE downstream.origin = use.source_id
                                           AND downstream.conversation_id = use.conversation_id)
                                AND use.source_reachable
                         AS yes) AS reaches
     WHERE use.source_id IS NOT NULL AND NOT use.on_every_path;
$function$;
