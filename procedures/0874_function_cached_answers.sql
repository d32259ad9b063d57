-- cached_answers(actor_id, prompts, config): the answers response_cache holds for these prompts of an
-- actor whose config sets cache: true (none for another), as (prompt_index, answer), prompt_index
-- counting from 1; config is the actor's config as the worker calls it (actor_admit() says why): a worker asks once per chunk, so a re-run answered from the cache costs one round trip per
-- chunk, not per posting. A prompt it gives no answer for is asked through actor_admit() as usual.
CREATE OR REPLACE FUNCTION public.cached_answers(p_actor_id integer, p_prompts text[], p_config jsonb DEFAULT NULL)
RETURNS TABLE (prompt_index integer, answer text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT asked.position::integer, cached.answer
      FROM public.actors AS actor
     CROSS JOIN LATERAL unnest(p_prompts) WITH ORDINALITY AS asked (prompt, position)
      JOIN public.response_cache AS cached
        ON cached.cache_key = public.response_cache_key(actor.actor_type, coalesce(p_config, actor.config), asked.prompt)
       AND cached.expires_at > now()
     WHERE actor.actor_id = p_actor_id AND coalesce(p_config, actor.config) -> 'cache' = 'true'::jsonb;
$function$;
