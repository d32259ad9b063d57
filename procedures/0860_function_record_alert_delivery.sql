-- record_alert_delivery(alert_id, delivery): note how an alert taken by take_alerts() was delivered
-- ({"command": "exit 0", "webhook": "HTTP 200"}), so a worker notes it without writing to alerts.
-- Only an alert that was taken is noted; a second note replaces the first. True when it was noted.
CREATE OR REPLACE FUNCTION public.record_alert_delivery(p_alert_id bigint, p_delivery jsonb)
RETURNS boolean
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH noted AS (
        UPDATE public.alerts SET delivery = p_delivery
         WHERE alert_id = p_alert_id AND taken_at IS NOT NULL
        RETURNING alert_id
    )
    SELECT EXISTS (SELECT FROM noted);
$function$;
