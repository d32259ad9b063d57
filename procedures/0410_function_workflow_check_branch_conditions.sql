-- Check: every branch condition can match. Branches are tried lowest branch_priority first, then
-- lowest instruction_step_id; a sentinel ([ERROR] …) matches only that outcome, '*' any output, any other
-- condition an output that contains it (case-sensitive). A later condition is unreachable when an
-- earlier one is identical (duplicate), is '*', or is contained in it (shadowed). A bracketed
-- condition that is not one of engine_sentinels() is probably a typo (warning).
-- p_branches: see workflow_branch_list().
CREATE OR REPLACE FUNCTION public.workflow_check_branch_conditions(
    p_workflow_id integer,
    p_branches public.workflow_branch[] DEFAULT NULL)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    WITH branch AS (
        SELECT b.*, b.branch_condition ~ '^\[[A-Z_]+\]$' AS is_sentinel
          FROM public.workflow_branch_list(p_workflow_id, p_branches) AS b
    ), duplicate AS (
        SELECT DISTINCT ON (later.instruction_step_id) later.*, earlier.instruction_step_id AS earlier_id
          FROM branch AS later
          JOIN branch AS earlier
            ON earlier.conversation_id = later.conversation_id AND earlier.branch_rank < later.branch_rank
           AND earlier.branch_condition = later.branch_condition
         ORDER BY later.instruction_step_id, earlier.branch_rank
    ), shadowed AS (
        SELECT DISTINCT ON (later.instruction_step_id) later.*, earlier.instruction_step_id AS earlier_id,
               earlier.branch_condition AS earlier_condition, earlier.branch_priority AS earlier_priority
          FROM branch AS later
          JOIN branch AS earlier
            ON earlier.conversation_id = later.conversation_id AND earlier.branch_rank < later.branch_rank
         WHERE NOT later.is_sentinel AND NOT earlier.is_sentinel
           AND earlier.branch_condition <> later.branch_condition
           AND (earlier.branch_condition = '*'
                OR (later.branch_condition <> '*' AND strpos(later.branch_condition, earlier.branch_condition) > 0))
         ORDER BY later.instruction_step_id, earlier.branch_rank
    )
    SELECT 'error', 'duplicate_condition', duplicate.canonical_name,
           format('branch %s of conversation %s repeats the condition %L of branch %s: it can never match',
                  duplicate.instruction_step_id, duplicate.canonical_name, duplicate.branch_condition,
                  duplicate.earlier_id)
      FROM duplicate
    UNION ALL
    SELECT 'error', 'shadowed_condition', shadowed.canonical_name,
           format('branch %s (%L) of conversation %s can never match: branch %s (%L) is tried first and '
                  'matches every output it would; give it a branch_priority lower than %s (a lower value is tried '
                  'first) or remove it',
                  shadowed.instruction_step_id, shadowed.branch_condition, shadowed.canonical_name,
                  shadowed.earlier_id, shadowed.earlier_condition, shadowed.earlier_priority)
      FROM shadowed
     WHERE shadowed.instruction_step_id NOT IN (SELECT instruction_step_id FROM duplicate)
    UNION ALL
    SELECT 'warning', 'unknown_sentinel', branch.canonical_name,
           format('branch %s of conversation %s waits for %L, which the engine never produces (known: %s)',
                  branch.instruction_step_id, branch.canonical_name, branch.branch_condition,
                  (SELECT string_agg(known.sentinel, ', ' ORDER BY known.sentinel) FROM public.engine_sentinels() AS known))
      FROM branch
     WHERE branch.is_sentinel
       AND branch.branch_condition NOT IN (SELECT known.sentinel FROM public.engine_sentinels() AS known);
$function$;
