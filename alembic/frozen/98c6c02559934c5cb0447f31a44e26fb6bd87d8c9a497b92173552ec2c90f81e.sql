-- actor_settle(permit_id, actor_id, outcome, tokens, call): a call admitted by actor_admit() ended.
-- outcome is 'ok', 'retryable', 'rate_limited' or 'fatal' (turing_db.actors.base says which is which);
-- tokens is the call's real usage (prompt + completion) or NULL. The permit is given back and:
--   * the token bucket is corrected by the estimate minus the real usage;
--   * BREAKER, closed: a retryable failure (a rate-limited one only when the breaker's
--     count_rate_limits is true) of a call admitted since the breaker last changed state joins the
--     failures of the last window_seconds; failure_threshold of them open it. half_open: a probe's success counts towards success_threshold, which closes it;
--     a probe's failure opens it again. Fatal outcomes are ignored (neither failure nor success), and
--     so are calls that were admitted before the breaker last changed state. Whose failures count
--     at all is the policy's counts_failures (actor_policy()).
--   * a permit that is not there (settled already: a retried call whose reply was lost; or its lease
--     ended) changes nothing.
--   * call, when given, is an attempt that will be retried: it is logged in actor_calls now (the
--     final attempt is logged by complete_chunk() with the posting's result), keys: workflow_run_id,
--     posting_id, conversation_id, error_kind, latency_ms, prompt_tokens, completion_tokens, attempt,
--     http_status.
-- Returns the breaker's state afterwards and the state it left, if it changed.
CREATE OR REPLACE FUNCTION public.actor_settle(p_permit_id uuid, p_actor_id integer, p_outcome text,
                                               p_tokens integer DEFAULT NULL, p_call jsonb DEFAULT NULL)
RETURNS TABLE (breaker_state text, changed_from text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    gate     public.actor_gates;
    breaker  jsonb;
    permit   public.actor_permits;
    failing  boolean;
    before   text;
BEGIN
    IF p_outcome NOT IN ('ok', 'retryable', 'rate_limited', 'fatal') THEN
        RAISE EXCEPTION 'outcome % is not ok, retryable, rate_limited or fatal', p_outcome
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the gate is advisory state, called twice per LLM call: its commit need not wait for the disk (a
    -- crash of the server loses at most its last instants: a permit, a bucket's refill, a failure)
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT actor.policy -> 'breaker' INTO breaker
      FROM public.actors AS actor WHERE actor.actor_id = p_actor_id;
    SELECT * INTO gate FROM public.actor_gates AS g WHERE g.actor_id = p_actor_id FOR UPDATE;
    IF NOT FOUND THEN  -- the actor's first call: its gate row is made (by one worker; the others wait)
        INSERT INTO public.actor_gates (actor_id) VALUES (p_actor_id) ON CONFLICT (actor_id) DO NOTHING;
        SELECT * INTO gate FROM public.actor_gates AS g WHERE g.actor_id = p_actor_id FOR UPDATE;
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
         WHERE g.actor_id = p_actor_id;
    END IF;

    failing := (breaker ->> 'counts_failures')::boolean  -- actor_policy() says whose failures count
               AND (p_outcome = 'retryable' OR (p_outcome = 'rate_limited' AND (breaker ->> 'count_rate_limits')::boolean));
    IF gate.state = 'closed' AND failing AND permit.granted_at >= gate.changed_at THEN
        UPDATE public.actor_gates AS g
           SET failures = ARRAY(SELECT failed_at FROM unnest(g.failures) AS failed_at
                                 WHERE failed_at > now() - make_interval(secs => (breaker ->> 'window_seconds')::double precision)
                                 ORDER BY failed_at) || now(),
               updated_at = now()
         WHERE g.actor_id = p_actor_id
        RETURNING * INTO gate;
        IF cardinality(gate.failures) >= (breaker ->> 'failure_threshold')::numeric THEN
            gate := public.actor_gate_change(p_actor_id, 'open',
                        format('%s failures within %s s', cardinality(gate.failures), breaker ->> 'window_seconds'));
        END IF;
    ELSIF gate.state = 'half_open' AND permit.probe THEN
        IF failing THEN
            gate := public.actor_gate_change(p_actor_id, 'open', 'a probe failed');
        ELSIF p_outcome = 'ok' THEN
            UPDATE public.actor_gates AS g SET probe_successes = g.probe_successes + 1, updated_at = now()
             WHERE g.actor_id = p_actor_id
            RETURNING * INTO gate;
            IF gate.probe_successes >= (breaker ->> 'success_threshold')::numeric THEN
                gate := public.actor_gate_change(p_actor_id, 'closed',
                            format('%s probes succeeded', gate.probe_successes));
            END IF;
        END IF;
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
