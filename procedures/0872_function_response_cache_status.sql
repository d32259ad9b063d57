-- response_cache_status(): what the response cache holds, per actor that stored answers (what
-- `turing cache` prints): answers, of which expired (pruned hourly by prune-response-cache), the
-- tokens they cost when asked (what asking again would cost), when the oldest and newest were stored,
-- and how many calls it answered (actor_calls.cached).
CREATE OR REPLACE FUNCTION public.response_cache_status()
RETURNS TABLE (actor_name text, answers bigint, expired bigint, tokens bigint, oldest timestamptz,
               newest timestamptz, cached_calls bigint)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT actor.actor_name, count(*), count(*) FILTER (WHERE cached.expires_at <= now()),
           coalesce(sum(cached.tokens), 0), min(cached.stored_at), max(cached.stored_at),
           (SELECT count(*) FROM public.actor_calls AS call WHERE call.actor_id = actor.actor_id AND call.cached)
      FROM public.response_cache AS cached
      JOIN public.actors AS actor ON actor.actor_id = cached.actor_id
     GROUP BY actor.actor_id, actor.actor_name
     ORDER BY actor.actor_name;
$function$;
