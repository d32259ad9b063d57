-- workflow_branches(workflow_id): every enabled branch of the workflow's steps, in the order they are
-- tried (branch_priority, then instruction_step_id), with where it leads: 'end' (NULL target),
-- 'step' (a step of this workflow), 'error_handler' (the global handler) or 'invalid' (anything else).
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.workflow_branches(p_workflow_id integer)
RETURNS TABLE (conversation_id integer, canonical_name text, instruction_step_id integer,
               branch_condition text, branch_priority integer, branch_rank bigint,
               next_conversation_id integer, target_kind text)
LANGUAGE sql
STABLE
AS $function$
    SELECT step.conversation_id, step.canonical_name, branch.instruction_step_id, branch.branch_condition,
           branch.branch_priority,
           pg_catalog.row_number() OVER (PARTITION BY step.conversation_id
                              ORDER BY branch.branch_priority, branch.instruction_step_id),
           branch.next_conversation_id,
           CASE
               WHEN branch.next_conversation_id IS NULL THEN 'end'
               WHEN target_step.conversation_id IS NOT NULL THEN 'step'
               WHEN target.conversation_type = 'error_handler' AND target.enabled THEN 'error_handler'
               ELSE 'invalid'
           END
      FROM public.workflow_steps(p_workflow_id) AS step
      JOIN public.instructions AS instruction
        ON instruction.conversation_id = step.conversation_id AND instruction.enabled
      JOIN public.instruction_steps AS branch
        ON branch.instruction_id = instruction.instruction_id AND branch.enabled
      LEFT JOIN public.conversations AS target ON target.conversation_id = branch.next_conversation_id
      LEFT JOIN public.workflow_steps(p_workflow_id) AS target_step
        ON target_step.conversation_id = branch.next_conversation_id;
$function$;
