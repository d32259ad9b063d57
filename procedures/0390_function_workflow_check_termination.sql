-- Check: every step can finish. A step with no branch, or from which no path of branches reaches an
-- end (a NULL target or the error handler), is a dead end; when such steps form a cycle, the cycle has
-- no exit. A step without a '*' branch sends unmatched outputs to the error handler (warning). A loop
-- (a branch back to an earlier or the same step that can come round again) is bounded when the step it
-- re-enters or the step it leaves has max_visits (warning otherwise).
CREATE OR REPLACE FUNCTION public.workflow_check_termination(p_workflow_id integer)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    WITH RECURSIVE step AS (
        SELECT * FROM public.workflow_steps(p_workflow_id)
    ), branch AS (
        SELECT * FROM public.workflow_branches(p_workflow_id)
    ), edge AS (
        SELECT DISTINCT branch.conversation_id AS source, branch.next_conversation_id AS target
          FROM branch WHERE branch.target_kind = 'step'
    ), finishing (conversation_id) AS (
        SELECT branch.conversation_id FROM branch WHERE branch.target_kind IN ('end', 'error_handler')
        UNION
        SELECT edge.source FROM finishing JOIN edge ON edge.target = finishing.conversation_id
    ), stuck AS (
        SELECT step.* FROM step WHERE step.conversation_id NOT IN (SELECT conversation_id FROM finishing)
    ), stuck_reach (origin, conversation_id) AS (
        SELECT edge.source, edge.target FROM edge
         WHERE edge.source IN (SELECT conversation_id FROM stuck) AND edge.target IN (SELECT conversation_id FROM stuck)
        UNION
        SELECT stuck_reach.origin, edge.target FROM stuck_reach
          JOIN edge ON edge.source = stuck_reach.conversation_id
         WHERE edge.target IN (SELECT conversation_id FROM stuck)
    ), back_edge AS (
        SELECT edge.source, edge.target FROM edge
          JOIN step AS source_step ON source_step.conversation_id = edge.source
          JOIN step AS target_step ON target_step.conversation_id = edge.target
         WHERE target_step.execution_order <= source_step.execution_order
    ), loop_reach (origin, conversation_id) AS (
        SELECT back_edge.target, back_edge.target FROM back_edge
        UNION
        SELECT loop_reach.origin, edge.target FROM loop_reach JOIN edge ON edge.source = loop_reach.conversation_id
    )
    SELECT 'error', 'dead_end', stuck.canonical_name,
           CASE WHEN NOT EXISTS (SELECT 1 FROM branch WHERE branch.conversation_id = stuck.conversation_id)
                THEN format('conversation %s has no enabled branch: a posting stops there unfinished; add '
                            'one, e.g. ''*'' → NULL to end', stuck.canonical_name)
                ELSE format('no path of branches from conversation %s reaches an end: add a branch to NULL '
                            '(end) or to a step that finishes', stuck.canonical_name)
           END
      FROM stuck
     WHERE NOT EXISTS (SELECT 1 FROM stuck_reach AS r
                        WHERE r.origin = stuck.conversation_id AND r.conversation_id = stuck.conversation_id)
    UNION ALL
    SELECT 'error', 'cycle_without_exit', stuck.canonical_name,
           format('conversation %s is in a cycle with no way out (%s): add a branch that leaves the cycle',
                  stuck.canonical_name,
                  (SELECT string_agg(member.canonical_name, ' → ' ORDER BY member.execution_order)
                     FROM stuck AS member
                    WHERE EXISTS (SELECT 1 FROM stuck_reach AS there
                                   WHERE there.origin = stuck.conversation_id
                                     AND there.conversation_id = member.conversation_id)
                      AND EXISTS (SELECT 1 FROM stuck_reach AS back
                                   WHERE back.origin = member.conversation_id
                                     AND back.conversation_id = stuck.conversation_id)))
      FROM stuck
     WHERE EXISTS (SELECT 1 FROM stuck_reach AS r
                    WHERE r.origin = stuck.conversation_id AND r.conversation_id = stuck.conversation_id)
    UNION ALL
    SELECT 'warning', 'no_fallback_branch', step.canonical_name,
           format('conversation %s has no ''*'' branch: outputs matching none of %s go to the error handler',
                  step.canonical_name,
                  (SELECT string_agg(quote_literal(b.branch_condition), ', ' ORDER BY b.branch_rank)
                     FROM branch AS b WHERE b.conversation_id = step.conversation_id
                      AND b.branch_condition !~ '^\[[A-Z_]+\]$'))
      FROM step
     WHERE EXISTS (SELECT 1 FROM branch WHERE branch.conversation_id = step.conversation_id)
       AND NOT EXISTS (SELECT 1 FROM branch
                        WHERE branch.conversation_id = step.conversation_id AND branch.branch_condition = '*')
    UNION ALL
    SELECT DISTINCT 'warning', 'unbounded_loop', target_step.canonical_name,
           format('the branch from %s back to %s forms a loop that nothing bounds: set '
                  'workflow_conversations.max_visits on %s', source_step.canonical_name,
                  target_step.canonical_name, target_step.canonical_name)
      FROM back_edge
      JOIN step AS source_step ON source_step.conversation_id = back_edge.source
      JOIN step AS target_step ON target_step.conversation_id = back_edge.target
     WHERE EXISTS (SELECT 1 FROM loop_reach
                    WHERE loop_reach.origin = back_edge.target AND loop_reach.conversation_id = back_edge.source)
       AND source_step.max_visits IS NULL
       AND target_step.max_visits IS NULL
       AND back_edge.source IN (SELECT conversation_id FROM finishing);
$function$;
