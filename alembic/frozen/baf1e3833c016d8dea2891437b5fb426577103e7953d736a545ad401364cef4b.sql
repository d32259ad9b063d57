-- take_alerts(worker, max_alerts): the oldest alerts no worker has taken yet, now taken by this one
-- (SKIP LOCKED: two workers never take the same alert, so each is delivered once). A worker that
-- dies between taking and delivering loses those alerts: at most once, never twice (a page that
-- repeats is worse than one the log still holds); the worker notes how each delivery went in
-- alerts.delivery.
CREATE OR REPLACE FUNCTION public.take_alerts(p_worker text, p_max_alerts integer DEFAULT 20)
RETURNS TABLE (alert_id bigint, event text, details jsonb, raised_at timestamptz)
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    UPDATE public.alerts AS alert
       SET taken_by = p_worker, taken_at = now()
     WHERE alert.alert_id IN (SELECT waiting.alert_id FROM public.alerts AS waiting
                               WHERE waiting.taken_at IS NULL
                               ORDER BY waiting.alert_id LIMIT greatest(p_max_alerts, 1)
                                 FOR UPDATE SKIP LOCKED)
    RETURNING alert.alert_id, alert.event, alert.details, alert.raised_at;
$function$;
