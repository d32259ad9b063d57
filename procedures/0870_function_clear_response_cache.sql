-- clear_response_cache(actor_name, expired_only): forget cached answers (response_cache): those the
-- named actor stored (every actor's when NULL), and with expired_only only those past their expiry
-- (what the pg_cron job prune-response-cache does every hour). Returns how many were deleted.
--   SELECT clear_response_cache();                 -- every answer: the next run asks the servers again
--   SELECT clear_response_cache('ollama_summary'); -- one actor's
CREATE OR REPLACE FUNCTION public.clear_response_cache(p_actor_name text DEFAULT NULL, p_expired_only boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    target  integer;
    deleted bigint;
BEGIN
    IF p_actor_name IS NOT NULL THEN
        SELECT actor.actor_id INTO target FROM public.actors AS actor WHERE actor.actor_name = p_actor_name;
        IF target IS NULL THEN
            RAISE EXCEPTION 'no actor is named %', p_actor_name
                USING ERRCODE = 'no_data_found', HINT = 'SELECT actor_name FROM actors lists them';
        END IF;
    END IF;
    DELETE FROM public.response_cache AS cached
     WHERE (target IS NULL OR cached.actor_id = target)
       AND (NOT p_expired_only OR cached.expires_at <= now());
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$function$;
