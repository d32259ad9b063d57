-- raise_alert(event, details): queue an alert for an operator. Alerts wait in the table alerts until
-- a worker process takes them (take_alerts()) and delivers each once: a log event, and the command
-- or webhook the operator configured (TURING_ALERT_COMMAND, TURING_ALERT_WEBHOOK). Triggers raise
-- them for breaker changes and quarantined postings; the runner raises run_failed. Returns its id.
-- A worker may raise one: an event is a lower-case word of up to 64 characters, its details at
-- most 16 KiB of JSON, so that a leaked credential cannot flood an operator's channel with pages.
CREATE OR REPLACE FUNCTION public.raise_alert(p_event text, p_details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    raised bigint;
BEGIN
    IF p_event IS NULL OR p_event !~ '^[a-z][a-z_]{0,63}$' THEN
        RAISE EXCEPTION 'an alert''s event must be a lower-case word (a-z, _), not %', quote_literal(left(p_event, 80))
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(coalesce(p_details, '{}')::text) > 16384 THEN
        RAISE EXCEPTION 'the details of alert % are larger than 16 KiB', p_event USING ERRCODE = 'program_limit_exceeded';
    END IF;
    INSERT INTO public.alerts (event, details) VALUES (p_event, coalesce(p_details, '{}')) RETURNING alert_id
      INTO raised;
    RETURN raised;
END;
$function$;
