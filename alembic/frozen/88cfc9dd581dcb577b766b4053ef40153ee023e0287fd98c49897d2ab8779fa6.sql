-- raise_alert(event, details): queue an alert for an operator. Alerts wait in the table alerts until
-- a worker process takes them (take_alerts()) and delivers each once: a log event, and the command
-- or webhook the operator configured (TURING_ALERT_COMMAND, TURING_ALERT_WEBHOOK). Triggers raise
-- them for breaker changes and quarantined postings; the runner raises run_failed. Returns its id.
CREATE OR REPLACE FUNCTION public.raise_alert(p_event text, p_details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    INSERT INTO public.alerts (event, details) VALUES (p_event, coalesce(p_details, '{}')) RETURNING alert_id;
$function$;
