-- actor_settle(permit_id, actor_id, outcome, tokens, call, answer): a call admitted by actor_admit()
-- ended. outcome is 'ok', 'retryable', 'rate_limited' or 'fatal' (turing_db.actors.base says which is
-- which); tokens is the call's real usage (prompt + completion) or NULL. The permit is given back and:
--   * the token bucket is corrected by the estimate minus the real usage;
--   * BREAKER (the permit's server's, for an actor with several: actor_endpoints(); the actor's then
--     follows, actor_gate_follow_endpoints()), closed: a retryable failure (a rate-limited one only
--     when the breaker's count_rate_limits is true) of a call admitted since the breaker last changed
--     state joins the failures of the last window_seconds; failure_threshold of them open it.
--     half_open: a probe's success counts towards success_threshold, which closes it; a probe's
--     failure opens it again. Fatal outcomes are ignored (neither failure nor success), and so are
--     calls that were admitted before the breaker last changed state. Whose failures count at all is
--     the policy's counts_failures (actor_policy()).
--   * CACHE: answer, given for a success of a call admitted with a prompt of a caching actor, is stored
--     in response_cache under the permit's key for config.cache_ttl_seconds (7 days when not set);
--   * a permit that is not there (settled already: a retried call whose reply was lost; or its lease
--     ended) changes nothing.
--   * call, when given, is an attempt that will be retried: it is logged in actor_calls now (the
--     final attempt is logged by complete_chunk() with the posting's result), keys: workflow_run_id,
--     posting_id, conversation_id, error_kind, latency_ms, prompt_tokens, completion_tokens, attempt,
--     http_status.
-- Returns the breaker's state afterwards and the state it left, if it changed (the actor's).
CREATE OR REPLACE FUNCTION public.actor_settle(p_permit_id uuid, p_actor_id integer, p_outcome text,
                                               p_tokens integer DEFAULT NULL, p_call jsonb DEFAULT NULL,
                                               p_answer text DEFAULT NULL)
RETURNS TABLE (breaker_state text, changed_from text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    actor    public.actors;
    gate     public.actor_gates;
    server   public.actor_gates;
    breaker  jsonb;
    permit   public.actor_permits;
    failing  boolean;
    before   text;
    server_before text;
BEGIN
    IF p_outcome NOT IN ('ok', 'retryable', 'rate_limited', 'fatal') THEN
        RAISE EXCEPTION 'outcome % is not ok, retryable, rate_limited or fatal', p_outcome
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the gate is advisory state, called twice per LLM call: its commit need not wait for the disk (a
    -- crash of the server loses at most its last instants: a permit, a bucket's refill, a failure)
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT * INTO actor FROM public.actors AS a WHERE a.actor_id = p_actor_id;
    breaker := actor.policy -> 'breaker';
    SELECT * INTO gate FROM public.actor_gates AS g WHERE g.actor_id = p_actor_id AND g.endpoint = '' FOR UPDATE;
    IF NOT FOUND THEN  -- the actor's first call: its gate row is made (by one worker; the others wait)
        INSERT INTO public.actor_gates (actor_id, endpoint) VALUES (p_actor_id, '') ON CONFLICT DO NOTHING;
        SELECT * INTO gate FROM public.actor_gates AS g WHERE g.actor_id = p_actor_id AND g.endpoint = '' FOR UPDATE;
    END IF;
    before := gate.state;
    DELETE FROM public.actor_permits AS given WHERE given.permit_id = p_permit_id RETURNING * INTO permit;

    IF permit.permit_id IS NULL THEN
        -- settled already (a retry of a call whose reply was lost), or its lease ended: nothing to count
        RETURN QUERY SELECT gate.state, NULL::text;
        RETURN;
    END IF;

    IF gate.tokens_left IS NOT NULL AND p_tokens IS NOT NULL THEN
        UPDATE public.actor_gates AS g SET tokens_left = g.tokens_left + permit.estimated_tokens - p_tokens
         WHERE g.actor_id = p_actor_id AND g.endpoint = '';
    END IF;

    IF p_outcome = 'ok' AND permit.cache_key IS NOT NULL AND p_answer IS NOT NULL THEN
        INSERT INTO public.response_cache AS cached (cache_key, actor_id, answer, tokens, expires_at)
        VALUES (permit.cache_key, p_actor_id, p_answer, p_tokens,
                now() + make_interval(secs => coalesce((actor.config ->> 'cache_ttl_seconds')::double precision, 604800)))
        ON CONFLICT (cache_key) DO UPDATE
           SET actor_id = excluded.actor_id, answer = excluded.answer, tokens = excluded.tokens,
               stored_at = excluded.stored_at, expires_at = excluded.expires_at;
    END IF;

    -- the breaker the call counts against: its server's, or the actor's
    IF permit.endpoint <> '' THEN
        SELECT * INTO server FROM public.actor_gates AS g WHERE g.actor_id = p_actor_id AND g.endpoint = permit.endpoint;
        IF NOT FOUND THEN  -- the server's first call settled: its row (closed) is made
            INSERT INTO public.actor_gates (actor_id, endpoint) VALUES (p_actor_id, permit.endpoint)
            RETURNING * INTO server;
        END IF;
    ELSE
        server := gate;
    END IF;
    server_before := server.state;
    failing := (breaker ->> 'counts_failures')::boolean  -- actor_policy() says whose failures count
               AND (p_outcome = 'retryable' OR (p_outcome = 'rate_limited' AND (breaker ->> 'count_rate_limits')::boolean));
    IF server.state = 'closed' AND failing AND permit.granted_at >= server.changed_at THEN
        UPDATE public.actor_gates AS g
           SET failures = ARRAY(SELECT failed_at FROM unnest(g.failures) AS failed_at
                                 WHERE failed_at > now() - make_interval(secs => (breaker ->> 'window_seconds')::double precision)
                                 ORDER BY failed_at) || now(),
               updated_at = now()
         WHERE g.actor_id = p_actor_id AND g.endpoint = permit.endpoint
        RETURNING * INTO server;
        IF cardinality(server.failures) >= (breaker ->> 'failure_threshold')::numeric THEN
            server := public.actor_gate_change(p_actor_id, 'open',
                          format('%s failures within %s s', cardinality(server.failures), breaker ->> 'window_seconds'),
                          permit.endpoint);
        END IF;
    ELSIF server.state = 'half_open' AND permit.probe THEN
        IF failing THEN
            server := public.actor_gate_change(p_actor_id, 'open', 'a probe failed', permit.endpoint);
        ELSIF p_outcome = 'ok' THEN
            UPDATE public.actor_gates AS g SET probe_successes = g.probe_successes + 1, updated_at = now()
             WHERE g.actor_id = p_actor_id AND g.endpoint = permit.endpoint
            RETURNING * INTO server;
            IF server.probe_successes >= (breaker ->> 'success_threshold')::numeric THEN
                server := public.actor_gate_change(p_actor_id, 'closed',
                              format('%s probes succeeded', server.probe_successes), permit.endpoint);
            END IF;
        END IF;
    END IF;
    IF permit.endpoint = '' THEN
        gate := server;
    ELSIF server.state <> server_before THEN
        gate := public.actor_gate_follow_endpoints(p_actor_id);
    END IF;

    IF p_call IS NOT NULL THEN
        INSERT INTO public.actor_calls (workflow_run_id, posting_id, conversation_id, actor_id, status, error_kind,
                                        latency_ms, prompt_tokens, completion_tokens, attempt, http_status)
        SELECT call.workflow_run_id, call.posting_id, call.conversation_id, p_actor_id,
               CASE WHEN p_outcome = 'ok' THEN 'success' ELSE 'error' END,
               CASE WHEN p_outcome <> 'ok' THEN coalesce(call.error_kind, p_outcome) END,
               greatest(coalesce(call.latency_ms, 0), 0), call.prompt_tokens, call.completion_tokens,
               coalesce(call.attempt, 1), call.http_status
          FROM jsonb_to_record(p_call) AS call (workflow_run_id bigint, posting_id bigint, conversation_id integer,
                                                error_kind text, latency_ms numeric, prompt_tokens integer,
                                                completion_tokens integer, attempt integer, http_status integer);
    END IF;
    RETURN QUERY SELECT gate.state, CASE WHEN gate.state IS DISTINCT FROM before THEN before END;
END;
$function$;
