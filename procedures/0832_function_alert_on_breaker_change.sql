-- alert_on_breaker_change(): the trigger on circuit_breaker_events that raises circuit_breaker_open
-- and circuit_breaker_closed alerts (half-opening is routine probing, not an alert). One row of
-- history is one change made by one worker, so each change is alerted once, whatever the fleet. The
-- breaker of one server of an actor with several says which (endpoint; null: the actor's own).
CREATE OR REPLACE FUNCTION public.alert_on_breaker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
BEGIN
    IF NEW.to_state IN ('open', 'closed') THEN
        PERFORM public.raise_alert('circuit_breaker_' || NEW.to_state, jsonb_build_object(
            'actor_name', (SELECT actor.actor_name FROM public.actors AS actor WHERE actor.actor_id = NEW.actor_id),
            'endpoint', nullif(regexp_replace(NEW.endpoint, '//[^/@]*@', '//'), ''),  -- no user or password
            'from_state', NEW.from_state, 'to_state', NEW.to_state, 'reason', NEW.reason,
            'changed_at', NEW.changed_at));
    END IF;
    RETURN NULL;
END;
$function$;
