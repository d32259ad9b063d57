-- reset_circuit_breaker(actor_name): close the actor's breaker by hand (an operator who fixed the
-- server need not wait out reset_seconds); the failures in the window are forgotten, the change is
-- kept in circuit_breaker_events. Returns the state it left (NULL when it was closed already).
--   SELECT reset_circuit_breaker('ollama_summary');
CREATE OR REPLACE FUNCTION public.reset_circuit_breaker(actor_name text)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    target integer;
    before text;
BEGIN
    SELECT actor.actor_id INTO target FROM public.actors AS actor WHERE actor.actor_name = reset_circuit_breaker.actor_name;
    IF target IS NULL THEN
        RAISE EXCEPTION 'no actor is named %', reset_circuit_breaker.actor_name
            USING ERRCODE = 'no_data_found', HINT = 'SELECT actor_name FROM actors lists them';
    END IF;
    INSERT INTO public.actor_gates (actor_id) VALUES (target) ON CONFLICT (actor_id) DO NOTHING;
    SELECT gate.state INTO before FROM public.actor_gates AS gate WHERE gate.actor_id = target FOR UPDATE;
    PERFORM public.actor_gate_change(target, 'closed', 'reset by hand');
    UPDATE public.actor_gates AS gate SET failures = '{}' WHERE gate.actor_id = target;
    UPDATE public.actor_permits AS permit SET probe = false  -- still in flight: they keep their slots
     WHERE permit.actor_id = target AND permit.probe;
    RETURN nullif(before, 'closed');
END;
$function$;
