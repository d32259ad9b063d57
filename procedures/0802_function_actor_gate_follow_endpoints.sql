-- actor_gate_follow_endpoints(actor_id): an actor with several servers (actor_endpoints()) has the
-- breaker its servers' breakers imply: open when every server's is open (until the first of them
-- half-opens), closed when any is closed, half_open otherwise. The change, if any, is made with
-- actor_gate_change() (history, alerts). Returns the actor's gate row ('' endpoint) afterwards. The
-- caller holds that row's lock.
CREATE OR REPLACE FUNCTION public.actor_gate_follow_endpoints(p_actor_id integer)
RETURNS public.actor_gates
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    gate    public.actor_gates;
    servers record;
    implied text;
BEGIN
    SELECT count(*) AS listed,
           count(*) FILTER (WHERE server.state = 'open') AS open,
           count(*) FILTER (WHERE coalesce(server.state, 'closed') = 'closed') AS closed,
           min(server.retry_at) AS first_retry
      INTO servers
      FROM public.actors AS actor
     CROSS JOIN LATERAL jsonb_to_recordset(actor.endpoints) AS listed (endpoint text)
      LEFT JOIN public.actor_gates AS server ON server.actor_id = actor.actor_id AND server.endpoint = listed.endpoint
     WHERE actor.actor_id = p_actor_id;
    SELECT * INTO gate FROM public.actor_gates AS g WHERE g.actor_id = p_actor_id AND g.endpoint = '';
    IF servers.listed = 0 THEN
        RETURN gate;
    END IF;
    implied := CASE WHEN servers.open = servers.listed THEN 'open'
                    WHEN servers.closed > 0 THEN 'closed'
                    ELSE 'half_open' END;
    IF implied <> gate.state THEN
        gate := public.actor_gate_change(p_actor_id, implied,
                    format('%s of %s servers open, %s closed', servers.open, servers.listed, servers.closed));
    END IF;
    IF implied = 'open' AND gate.retry_at IS DISTINCT FROM servers.first_retry THEN
        UPDATE public.actor_gates AS g SET retry_at = servers.first_retry
         WHERE g.actor_id = p_actor_id AND g.endpoint = ''
        RETURNING * INTO gate;
    END IF;
    RETURN gate;
END;
$function$;
