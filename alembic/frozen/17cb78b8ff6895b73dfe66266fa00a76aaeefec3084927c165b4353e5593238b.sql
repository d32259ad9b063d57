-- first_matching_branch(conversation_id, output, sentinel): the branch an outcome takes — the first
-- enabled branch of the conversation's enabled instruction that branch_matches(), by branch_priority,
-- then instruction_step_id. No row when none matches; next_conversation_id NULL ends the path.
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.first_matching_branch(p_conversation_id integer, p_output text, p_sentinel text)
RETURNS TABLE (instruction_step_id integer, next_conversation_id integer)
LANGUAGE sql
STABLE
AS $function$
    SELECT branch.instruction_step_id, branch.next_conversation_id
      FROM public.instructions AS instruction
      JOIN public.instruction_steps AS branch
        ON branch.instruction_id OPERATOR(pg_catalog.=) instruction.instruction_id AND branch.enabled
     WHERE instruction.conversation_id OPERATOR(pg_catalog.=) p_conversation_id AND instruction.enabled
       AND public.branch_matches(branch.branch_condition, p_output, p_sentinel)
     ORDER BY branch.branch_priority, branch.instruction_step_id
     LIMIT 1;
$function$;
