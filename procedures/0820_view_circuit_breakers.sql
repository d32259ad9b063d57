-- circuit_breakers: every actor's breaker as all workers see it, with what an operator needs.
--   state              closed | open | half_open (an open breaker past retry_at shows half_open: the
--                      next call is a probe)
--   failures_in_window retryable failures of the last window_seconds (closed), or those that opened it
--   opened_at, retry_at when it last opened, and when it half-opens
--   probes_in_flight, calls_in_flight   leased permits now (all workers), of which probes
--   requests_left, tokens_left          the rate buckets when last touched (NULL: no limit)
--   endpoints          an actor with several servers (actor_endpoints()): each server's breaker, as
--                      [{"endpoint", "state", "failures_in_window", "calls_in_flight", "max_concurrency",
--                      "retry_at"}, …] in the order configured (NULL: one server, the actor's breaker)
--   SELECT actor_name, state, failures_in_window, retry_at FROM circuit_breakers WHERE state <> 'closed';
CREATE OR REPLACE VIEW public.circuit_breakers AS
SELECT actor.actor_id,
       actor.actor_name,
       actor.actor_type,
       CASE WHEN gate.state = 'open' AND now() >= gate.retry_at THEN 'half_open'
            ELSE coalesce(gate.state, 'closed') END                                      AS state,
       (SELECT count(*) FROM unnest(gate.failures) AS failed_at
         WHERE gate.state <> 'closed'
            OR failed_at > now() - make_interval(secs => (policy.breaker ->> 'window_seconds')::double precision))::integer
                                                                                          AS failures_in_window,
       (policy.breaker ->> 'failure_threshold')::numeric                                 AS failure_threshold,
       gate.opened_at,
       gate.retry_at,
       coalesce(gate.probe_successes, 0)                                                 AS probe_successes,
       (SELECT count(*) FROM public.actor_permits AS permit
         WHERE permit.actor_id = actor.actor_id AND permit.probe AND permit.expires_at > now())::integer
                                                                                          AS probes_in_flight,
       (SELECT count(*) FROM public.actor_permits AS permit
         WHERE permit.actor_id = actor.actor_id AND permit.expires_at > now())::integer  AS calls_in_flight,
       actor.max_concurrency,
       gate.requests_left,
       gate.tokens_left,
       policy.breaker ->> 'on_open'                                                      AS on_open,
       gate.updated_at,
       (SELECT jsonb_agg(jsonb_build_object(
                   'endpoint', regexp_replace(listed.endpoint, '//[^/@]*@', '//'),  -- no user or password
                   'state', CASE WHEN server.state = 'open' AND now() >= server.retry_at THEN 'half_open'
                                 ELSE coalesce(server.state, 'closed') END,
                   'failures_in_window',
                       (SELECT count(*) FROM unnest(server.failures) AS failed_at
                         WHERE server.state <> 'closed'
                            OR failed_at > now() - make_interval(secs => (policy.breaker ->> 'window_seconds')::double precision)),
                   'calls_in_flight',
                       (SELECT count(*) FROM public.actor_permits AS permit
                         WHERE permit.actor_id = actor.actor_id AND permit.endpoint = listed.endpoint
                           AND permit.expires_at > now()),
                   'max_concurrency', listed.max_concurrency,
                   'retry_at', server.retry_at) ORDER BY listed.position)
          FROM jsonb_to_recordset(actor.endpoints) AS listed (endpoint text, max_concurrency integer, position integer)
          LEFT JOIN public.actor_gates AS server
            ON server.actor_id = actor.actor_id AND server.endpoint = listed.endpoint)           AS endpoints
  FROM public.actors AS actor
  CROSS JOIN LATERAL (SELECT actor.policy -> 'breaker' AS breaker) AS policy
  LEFT JOIN public.actor_gates AS gate ON gate.actor_id = actor.actor_id AND gate.endpoint = '';
