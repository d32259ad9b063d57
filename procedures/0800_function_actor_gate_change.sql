-- actor_gate_change(actor_id, to_state, reason, endpoint): move a circuit breaker to another state and
-- keep the change as history (circuit_breaker_events). endpoint '' is the actor's own breaker; another
-- is the breaker of one of its servers (actor_endpoints()). The caller holds the actor's gate row lock.
--   open:      opened_at and retry_at (opened_at + reset_seconds, by the database clock) are set
--   half_open: probes are admitted from now on; its successes are counted from 0
--   closed:    the failures in the window are forgotten
CREATE OR REPLACE FUNCTION public.actor_gate_change(p_actor_id integer, p_to_state text, p_reason text,
                                                   p_endpoint text DEFAULT '')
RETURNS public.actor_gates
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    gate public.actor_gates;
    reset_seconds double precision;
BEGIN
    SELECT (actor.policy -> 'breaker' ->> 'reset_seconds')::double precision
      INTO reset_seconds
      FROM public.actors AS actor WHERE actor.actor_id = p_actor_id;
    INSERT INTO public.circuit_breaker_events (actor_id, endpoint, from_state, to_state, reason)
    SELECT p_actor_id, p_endpoint, current.state, p_to_state, p_reason
      FROM public.actor_gates AS current
     WHERE current.actor_id = p_actor_id AND current.endpoint = p_endpoint AND current.state <> p_to_state;
    UPDATE public.actor_gates AS current
       SET state = p_to_state,
           opened_at = CASE WHEN p_to_state = 'open' THEN now() ELSE current.opened_at END,
           retry_at = CASE WHEN p_to_state = 'open' THEN now() + make_interval(secs => reset_seconds) END,
           probe_successes = 0,
           changed_at = now(),
           failures = CASE WHEN p_to_state = 'open' THEN current.failures ELSE '{}' END,
           updated_at = now()
     WHERE current.actor_id = p_actor_id AND current.endpoint = p_endpoint
    RETURNING * INTO gate;
    RETURN gate;
END;
$function$;
