-- fix_workflow(workflow_id, apply): make the safe fixes of workflow_fixes(), all or none. With apply
-- (the default) every fix runs, the workflow is validated again, and the fixes are undone unless it
-- is now valid with no more warnings than before; without, nothing changes. One row per fix: what,
-- where, why it is safe, the statement, and the outcome ('applied', 'would apply', 'rolled back: why').
CREATE OR REPLACE FUNCTION public.fix_workflow(p_workflow_id integer, p_apply boolean DEFAULT true)
RETURNS TABLE (fix text, conversation text, reason text, statement text, outcome text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
SET jit = off
AS $function$
DECLARE
    fixes jsonb;
    item jsonb;
    errors_before integer;
    warnings_before integer;
    errors_after integer;
    warnings_after integer;
    verdict text := 'would apply';
BEGIN
    SELECT coalesce(jsonb_agg(to_jsonb(planned)), '[]'::jsonb) INTO fixes
      FROM public.workflow_fixes(p_workflow_id) AS planned;
    IF p_apply AND jsonb_array_length(fixes) > 0 THEN
        SELECT count(*) FILTER (WHERE finding.severity = 'error'), count(*) FILTER (WHERE finding.severity = 'warning')
          INTO errors_before, warnings_before FROM public.validate_workflow(p_workflow_id) AS finding;
        BEGIN  -- a subtransaction: what it changed is undone when it ends in an exception
            FOR item IN SELECT planned FROM jsonb_array_elements(fixes) AS planned LOOP
                EXECUTE item ->> 'statement';
            END LOOP;
            SELECT count(*) FILTER (WHERE finding.severity = 'error'), count(*) FILTER (WHERE finding.severity = 'warning')
              INTO errors_after, warnings_after FROM public.validate_workflow(p_workflow_id) AS finding;
            IF errors_after > 0 OR warnings_after > warnings_before THEN
                RAISE EXCEPTION USING ERRCODE = 'TD004', MESSAGE = format(
                    'rolled back: the fixes would leave %s error(s) and %s warning(s) (before: %s and %s)',
                    errors_after, warnings_after, errors_before, warnings_before);
            END IF;
            verdict := 'applied';
        EXCEPTION WHEN OTHERS THEN
            verdict := CASE WHEN SQLSTATE = 'TD004' THEN SQLERRM ELSE 'rolled back: ' || SQLERRM END;
        END;
    END IF;
    RETURN QUERY SELECT planned ->> 'fix', planned ->> 'conversation', planned ->> 'reason', planned ->> 'statement',
                        verdict
                   FROM jsonb_array_elements(fixes) AS planned;
END;
$function$;
