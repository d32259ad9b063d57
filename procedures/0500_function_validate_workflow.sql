-- validate_workflow(workflow_id): every definition error of a workflow, found before any posting is
-- touched. One row per finding: severity ('error' or 'warning'), check_name, conversation (canonical
-- name or NULL) and a message naming the rows involved. A workflow without errors also gets one
-- severity 'ok' row, so that `SELECT validate_workflow(3001);` always prints a verdict. Valid means:
-- no 'error' row. The checks are the workflow_check_* functions, each documented in its own file.
CREATE OR REPLACE FUNCTION public.validate_workflow(p_workflow_id integer)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    WITH branches AS MATERIALIZED (  -- the branch list and the graph, computed once for every check
        SELECT array_agg(b::public.workflow_branch) AS list FROM public.workflow_branches(p_workflow_id) AS b
    ), graph AS MATERIALIZED (
        SELECT array_agg(g) AS nodes FROM public.workflow_graph(p_workflow_id) AS g
    ), finding AS (
        SELECT * FROM public.workflow_check_definition(p_workflow_id)
        UNION ALL SELECT * FROM public.workflow_check_actors(p_workflow_id)
        UNION ALL SELECT * FROM public.workflow_check_instructions(p_workflow_id)
        UNION ALL SELECT * FROM public.workflow_check_branch_targets(p_workflow_id, (SELECT list FROM branches))
        UNION ALL SELECT * FROM public.workflow_check_entry_points(p_workflow_id)
        UNION ALL SELECT * FROM public.workflow_check_reachability(p_workflow_id, (SELECT nodes FROM graph))
        UNION ALL SELECT * FROM public.workflow_check_termination(p_workflow_id, (SELECT nodes FROM graph),
                                                                  (SELECT list FROM branches))
        UNION ALL SELECT * FROM public.workflow_check_error_handling(p_workflow_id, (SELECT list FROM branches))
        UNION ALL SELECT * FROM public.workflow_check_branch_conditions(p_workflow_id, (SELECT list FROM branches))
        UNION ALL SELECT * FROM public.workflow_check_fallbacks(p_workflow_id, (SELECT list FROM branches))
        UNION ALL SELECT * FROM public.workflow_check_placeholders(p_workflow_id, (SELECT nodes FROM graph),
                                                                   (SELECT list FROM branches))
    ), verdict AS (
        SELECT 'ok'::text, 'valid'::text, NULL::text,
               format('workflow %s (%s) is valid: %s steps, %s entry point(s), %s warning(s)',
                      workflow.workflow_id, workflow.workflow_name,
                      (SELECT count(*) FROM public.workflow_steps(p_workflow_id)),
                      (SELECT count(*) FROM public.workflow_steps(p_workflow_id) AS step WHERE step.is_entry_point),
                      (SELECT count(*) FROM finding WHERE finding.severity = 'warning'))
          FROM public.workflows AS workflow
         WHERE workflow.workflow_id = p_workflow_id
           AND NOT EXISTS (SELECT 1 FROM finding WHERE finding.severity = 'error')
    )
    SELECT result.severity, result.check_name, result.conversation, result.message
      FROM (SELECT finding.*, 0 AS part FROM finding
            UNION ALL
            SELECT verdict.*, 1 FROM verdict) AS result
     ORDER BY result.part, result.severity = 'warning', result.check_name, result.conversation NULLS FIRST,
              result.message;
$function$;
