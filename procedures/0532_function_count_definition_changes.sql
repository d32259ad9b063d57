-- count_definition_changes(): a statement-level trigger on each definition table that counts, for
-- the transaction (the setting turing.definition_changes), the statements that changed one. It fires
-- after the statement's row triggers, so check_strict_workflows() can tell one batch of checks from
-- the next: a workflow checked before a change is checked again after it.
CREATE OR REPLACE FUNCTION public.count_definition_changes()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $function$
BEGIN
    PERFORM set_config('turing.definition_changes',
                       (coalesce(nullif(current_setting('turing.definition_changes', true), ''), '0')::bigint + 1)::text,
                       true);
    RETURN NULL;
END;
$function$;
