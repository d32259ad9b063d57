-- actor_admit(actor_id, worker, estimated_tokens, prompt, config): may this worker call the actor now? One
-- decision for every worker on every machine: the actor's gate row is locked while it is taken, so no
-- two workers can both take the last slot, probe or token. Returns JSON:
--   {"decision": "go", "permit_id": …, "probe": bool, "state": …, "endpoint": …}  call (the server
--      `endpoint` when the actor has several, else ""), then actor_settle(permit_id)
--   (every answer but "open" from an open breaker has "changed_from": "open" when this admission
--   half-opened the breaker, so that a worker logs the change)
--   {"decision": "cached", "answer": …}  not called: the answer to this prompt is in response_cache
--   {"decision": "wait", "reason": "concurrency"|"rate_limit"|"cache", "wait_seconds": s}  ask again in s
--   {"decision": "open", "state": "open"|"half_open", "on_open": "fail"|"wait", "wait_seconds": s}
--      the breaker refuses the call (s: until it half-opens, or a probe slot may free)
-- In order:
--   0. CACHE (config.cache true, prompt given): an answer stored under response_cache_key() and not
--      expired is the decision, whatever the breaker. The key is over config, the actor's config as
--      the worker calls it (its chunk's: the row may have changed since), else the row's; while another call for the same key is in flight
--      the caller waits ("cache"), so concurrent workers asking one prompt make one call;
--   1. permits whose lease ended (their worker died mid-call) free their slot and probe;
--   2. BREAKER: open until retry_at, then half_open; half_open admits half_open_probes probe calls
--      at a time across all workers, each a leased permit, and refuses the rest;
--   3. CONCURRENCY: at most actors.max_concurrency permits in flight (no cap when NULL);
--   4. ENDPOINTS (an actor with several servers, actor_endpoints()): each server has a breaker of its
--      own (the same policy, rows actor_gates.endpoint) and its own cap, and the call goes to the
--      server with the fewest calls in flight among those whose breaker lets it through (a half-open
--      server takes its probes); the actor's breaker follows its servers (actor_gate_follow_endpoints():
--      open only when every server is);
--   5. RATE LIMITS: token buckets in the gate row, refilled by the database clock. The request
--      bucket holds one second's worth of requests_per_minute (at least 1), the token bucket one
--      second's worth of tokens_per_minute, so a minute never sees more than the limit plus one
--      second's worth, and no burst of a whole minute reaches the provider. A call takes one request
--      and its estimated tokens (the token bucket may go below zero for a call larger than it
--      holds: later calls wait until it has refilled); actor_settle() corrects the estimate with the
--      real usage. A refusal says how long until the bucket has enough, so a worker never spins.
-- The permit's lease is twice the actor's timeout plus 5 s: an HTTP attempt ends within that (its
-- deadline is checked between reads, and one read may take a whole timeout), so a permit still held
-- after that belongs to a worker that died (or to a Python call that overran).
CREATE OR REPLACE FUNCTION public.actor_admit(p_actor_id integer, p_worker text, p_estimated_tokens integer DEFAULT 0,
                                              p_prompt text DEFAULT NULL, p_config jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    actor       public.actors;
    gate        public.actor_gates;
    policy      jsonb;
    rpm         double precision;
    tpm         double precision;
    elapsed     double precision;
    wait        double precision := 0;
    needed      double precision;
    in_flight   integer;
    probes      integer;
    is_probe    boolean;
    permit      uuid;
    changed_from text;
    clock       timestamptz;
    key         text;
    answer      text;
    server      record;
    endpoint    text := '';
    servers_changed boolean := false;
BEGIN
    -- the gate is advisory state, called twice per LLM call: its commit need not wait for the disk (a
    -- crash of the server loses at most its last instants: a permit, a bucket's refill, a failure)
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT * INTO actor FROM public.actors AS a WHERE a.actor_id = p_actor_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'actor_id % does not exist', p_actor_id USING ERRCODE = 'no_data_found';
    END IF;
    policy := actor.policy;

    -- 0. CACHE, before the lock: a hit waits for no other worker
    IF p_prompt IS NOT NULL AND coalesce(p_config, actor.config) -> 'cache' = 'true'::jsonb THEN
        key := public.response_cache_key(actor.actor_type, coalesce(p_config, actor.config), p_prompt);
        SELECT cached.answer INTO answer FROM public.response_cache AS cached
         WHERE cached.cache_key = key AND cached.expires_at > now();
        IF FOUND THEN
            RETURN json_build_object('decision', 'cached', 'answer', answer);
        END IF;
    END IF;

    SELECT * INTO gate FROM public.actor_gates AS g WHERE g.actor_id = p_actor_id AND g.endpoint = '' FOR UPDATE;
    IF NOT FOUND THEN  -- the actor's first call: its gate rows are made (by one worker; the others wait)
        INSERT INTO public.actor_gates (actor_id, endpoint) VALUES (p_actor_id, '') ON CONFLICT DO NOTHING;
        SELECT * INTO gate FROM public.actor_gates AS g WHERE g.actor_id = p_actor_id AND g.endpoint = '' FOR UPDATE;
    END IF;

    -- 0. CACHE, under the lock: one call per prompt in flight; a call that ended meanwhile stored it
    IF key IS NOT NULL THEN
        SELECT cached.answer INTO answer FROM public.response_cache AS cached
         WHERE cached.cache_key = key AND cached.expires_at > now();
        IF FOUND THEN
            RETURN json_build_object('decision', 'cached', 'answer', answer);
        END IF;
        IF EXISTS (SELECT FROM public.actor_permits AS asking
                    WHERE asking.actor_id = p_actor_id AND asking.cache_key = key AND asking.expires_at > now()) THEN
            RETURN json_build_object('decision', 'wait', 'reason', 'cache', 'wait_seconds', 0.05);
        END IF;
    END IF;

    -- 1. leases that ended free their slots
    DELETE FROM public.actor_permits AS expired
     WHERE expired.actor_id = p_actor_id AND expired.expires_at <= now();

    -- 2. BREAKER (an actor with several servers: the servers' breakers decide, at 4.)
    IF gate.state = 'open' AND now() >= gate.retry_at AND actor.endpoints IS NULL THEN
        gate := public.actor_gate_change(p_actor_id, 'half_open', 'reset_seconds passed: probing');
        changed_from := 'open';
    END IF;
    IF gate.state = 'open' AND now() < gate.retry_at THEN
        RETURN json_build_object('decision', 'open', 'state', 'open', 'on_open', policy -> 'breaker' ->> 'on_open',
                                 'wait_seconds', greatest(extract(epoch FROM gate.retry_at - now()), 0));
    END IF;
    SELECT count(*), count(*) FILTER (WHERE permit.probe) INTO in_flight, probes
      FROM public.actor_permits AS permit WHERE permit.actor_id = p_actor_id;
    is_probe := gate.state = 'half_open' AND actor.endpoints IS NULL;
    IF is_probe AND probes >= (policy -> 'breaker' ->> 'half_open_probes')::numeric THEN
        RETURN json_build_object('decision', 'open', 'state', 'half_open', 'on_open', policy -> 'breaker' ->> 'on_open',
                                 'wait_seconds', 1, 'changed_from', changed_from);
    END IF;

    -- 3. CONCURRENCY across all workers
    IF actor.max_concurrency IS NOT NULL AND in_flight >= actor.max_concurrency THEN
        RETURN json_build_object('decision', 'wait', 'reason', 'concurrency', 'wait_seconds', 0.05,
                                 'changed_from', changed_from);
    END IF;

    -- 4. ENDPOINTS: the server with the fewest calls in flight whose breaker and cap let a call through
    IF actor.endpoints IS NOT NULL THEN
        FOR server IN SELECT g.endpoint FROM public.actor_gates AS g
                        JOIN jsonb_to_recordset(actor.endpoints) AS listed (endpoint text) ON listed.endpoint = g.endpoint
                       WHERE g.actor_id = p_actor_id AND g.state = 'open' AND now() >= g.retry_at LOOP
            PERFORM public.actor_gate_change(p_actor_id, 'half_open', 'reset_seconds passed: probing', server.endpoint);
            servers_changed := true;
        END LOOP;
        -- a server changed, or the actor's breaker is not closed (it may be left from before its
        -- url became a list, or the list changed): it follows its servers again
        IF servers_changed OR gate.state <> 'closed' THEN
            changed_from := gate.state;
            gate := public.actor_gate_follow_endpoints(p_actor_id);
            changed_from := nullif(changed_from, gate.state);
        END IF;
        SELECT candidate.* INTO server
          FROM (SELECT listed.endpoint, listed.position, coalesce(flying.calls, 0) AS calls,
                       coalesce(g.state, 'closed') AS state,  -- no row yet: closed
                       coalesce(g.state, 'closed') = 'closed'
                           OR coalesce(flying.probes, 0) < (policy -> 'breaker' ->> 'half_open_probes')::numeric AS breaker_lets,
                       listed.max_concurrency IS NULL OR coalesce(flying.calls, 0) < listed.max_concurrency AS cap_lets
                  FROM jsonb_to_recordset(actor.endpoints) AS listed (endpoint text, max_concurrency integer, position integer)
                  LEFT JOIN public.actor_gates AS g ON g.actor_id = p_actor_id AND g.endpoint = listed.endpoint
                  LEFT JOIN (SELECT permit.endpoint, count(*) AS calls, count(*) FILTER (WHERE permit.probe) AS probes
                               FROM public.actor_permits AS permit WHERE permit.actor_id = p_actor_id
                              GROUP BY permit.endpoint) AS flying ON flying.endpoint = listed.endpoint
                 WHERE g.state IS DISTINCT FROM 'open') AS candidate
         ORDER BY candidate.breaker_lets AND candidate.cap_lets DESC, candidate.calls, candidate.position
         LIMIT 1;
        IF server.endpoint IS NULL THEN  -- every server's breaker is open
            gate := public.actor_gate_follow_endpoints(p_actor_id);
            RETURN json_build_object('decision', 'open', 'state', 'open', 'on_open', policy -> 'breaker' ->> 'on_open',
                                     'wait_seconds', greatest(extract(epoch FROM gate.retry_at - now()), 0),
                                     'changed_from', nullif(changed_from, gate.state));
        ELSIF NOT server.breaker_lets THEN  -- the servers left are half-open, their probes all out
            RETURN json_build_object('decision', 'open', 'state', 'half_open', 'on_open', policy -> 'breaker' ->> 'on_open',
                                     'wait_seconds', 1, 'changed_from', changed_from);
        ELSIF NOT server.cap_lets THEN
            RETURN json_build_object('decision', 'wait', 'reason', 'concurrency', 'wait_seconds', 0.05,
                                     'changed_from', changed_from);
        END IF;
        endpoint := server.endpoint;
        is_probe := server.state = 'half_open';
    END IF;

    -- 5. RATE LIMITS
    rpm := (policy -> 'rate_limit' ->> 'requests_per_minute')::double precision;
    tpm := (policy -> 'rate_limit' ->> 'tokens_per_minute')::double precision;
    clock := clock_timestamp();  -- read after the lock: now() (the transaction's start) may be older
    elapsed := greatest(extract(epoch FROM clock - gate.refilled_at), 0);  -- than the last refill
    IF rpm > 0 THEN
        gate.requests_left := least(greatest(rpm / 60, 1), coalesce(gate.requests_left, greatest(rpm / 60, 1)) + elapsed * rpm / 60);
        IF gate.requests_left < 1 THEN
            wait := (1 - gate.requests_left) * 60 / rpm;
        END IF;
    END IF;
    IF tpm > 0 THEN
        gate.tokens_left := least(greatest(tpm / 60, 1), coalesce(gate.tokens_left, greatest(tpm / 60, 1)) + elapsed * tpm / 60);
        needed := least(greatest(p_estimated_tokens, 0), greatest(tpm / 60, 1));
        IF gate.tokens_left < needed THEN
            wait := greatest(wait, (needed - gate.tokens_left) * 60 / tpm);
        END IF;
    END IF;
    IF wait > 0 THEN
        UPDATE public.actor_gates AS g
           SET requests_left = gate.requests_left, tokens_left = gate.tokens_left, refilled_at = clock
         WHERE g.actor_id = p_actor_id AND g.endpoint = '';
        RETURN json_build_object('decision', 'wait', 'reason', 'rate_limit', 'wait_seconds', wait,
                                 'changed_from', changed_from);
    END IF;

    -- GO: take a request, the estimated tokens and a leased permit
    IF rpm > 0 OR tpm > 0 OR gate.requests_left IS NOT NULL OR gate.tokens_left IS NOT NULL THEN
        UPDATE public.actor_gates AS g
           SET requests_left = CASE WHEN rpm > 0 THEN gate.requests_left - 1 END,
               tokens_left = CASE WHEN tpm > 0 THEN gate.tokens_left - greatest(p_estimated_tokens, 0) END,
               refilled_at = clock
         WHERE g.actor_id = p_actor_id AND g.endpoint = '';
    END IF;
    permit := gen_random_uuid();
    INSERT INTO public.actor_permits (permit_id, actor_id, endpoint, worker_id, probe, estimated_tokens, cache_key,
                                      expires_at)
    VALUES (permit, p_actor_id, endpoint, p_worker, is_probe, greatest(p_estimated_tokens, 0), key,
            now() + make_interval(secs => 2 * actor.timeout_seconds + 5));
    RETURN json_build_object('decision', 'go', 'permit_id', permit, 'probe', is_probe, 'state', gate.state,
                             'endpoint', endpoint, 'changed_from', changed_from);
END;
$function$;
