-- Check: every step (and the global error handler) has exactly one enabled instruction, and its
-- prompt template is not empty.
CREATE OR REPLACE FUNCTION public.workflow_check_instructions(p_workflow_id integer)
RETURNS TABLE (severity text, check_name text, conversation text, message text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
SET jit = off  -- planning a few rows; JIT compilation would cost a second
AS $function$
    WITH executed AS (
        SELECT * FROM public.workflow_executed(p_workflow_id)
    ), counted AS (
        SELECT executed.canonical_name,
               array_agg(instruction.instruction_id ORDER BY instruction.instruction_id)
                   FILTER (WHERE instruction.instruction_id IS NOT NULL) AS ids,
               bool_or(btrim(instruction.prompt_template) = '') AS has_empty
          FROM executed
          LEFT JOIN public.instructions AS instruction
                 ON instruction.conversation_id = executed.conversation_id AND instruction.enabled
         GROUP BY executed.canonical_name
    )
    SELECT 'error', 'instruction_missing', counted.canonical_name,
           format('conversation %s has no enabled instruction: INSERT INTO instructions (conversation_id, '
                  'prompt_template) …', counted.canonical_name)
      FROM counted WHERE counted.ids IS NULL
    UNION ALL
    SELECT 'error', 'instruction_ambiguous', counted.canonical_name,
           format('conversation %s has %s enabled instructions (instruction_id %s): keep exactly one enabled',
                  counted.canonical_name, cardinality(counted.ids), array_to_string(counted.ids, ', '))
      FROM counted WHERE cardinality(counted.ids) > 1
    UNION ALL
    SELECT 'error', 'instruction_empty', counted.canonical_name,
           format('conversation %s has an empty prompt_template', counted.canonical_name)
      FROM counted WHERE counted.has_empty;
$function$;
