-- actor_settle_and_admit(permit_id, tokens, actor_id, worker, estimated_tokens, prompt, config): a call
-- that succeeded gives its permit back (actor_settle(permit_id, actor_id, 'ok', tokens)) and the same
-- worker thread asks for its next call (actor_admit(actor_id, worker, estimated_tokens, prompt, config)), in one round
-- trip and one commit: the freed slot is there for the admission. Returns what actor_admit() returns.
-- Only a success that is not a probe (and stores no answer in the cache) is handed back this way, and
-- it changes no breaker state: closed, a success counts nothing, and half_open counts only probes
-- (actor_settle()).
CREATE OR REPLACE FUNCTION public.actor_settle_and_admit(p_permit_id uuid, p_tokens integer, p_actor_id integer,
                                                         p_worker text, p_estimated_tokens integer DEFAULT 0,
                                                         p_prompt text DEFAULT NULL, p_config jsonb DEFAULT NULL)
RETURNS json
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
BEGIN
    PERFORM public.actor_settle(p_permit_id, p_actor_id, 'ok', p_tokens);
    RETURN public.actor_admit(p_actor_id, p_worker, p_estimated_tokens, p_prompt, p_config);
END;
$function$;
