-- claim_chunk(run_id, worker, max_postings): claim_chunk_v2()'s chunk as one row per posting, the
-- form workers before migration 0006 read. Kept so that they run on beside new workers during an
-- upgrade; a later migration retires it.
CREATE OR REPLACE FUNCTION public.claim_chunk(p_run_id bigint, p_worker text, p_max_postings integer DEFAULT 500)
RETURNS TABLE (posting_id bigint, conversation_id integer, canonical_name text, actor_id integer,
               actor_name text, actor_type text, actor_config jsonb, timeout_seconds numeric,
               max_concurrency integer, prompt text, attempt integer, claim_token uuid,
               lease_expires_at timestamptz, context jsonb)
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT (posting ->> 'posting_id')::bigint, (chunk ->> 'conversation_id')::integer, chunk ->> 'conversation',
           (chunk -> 'actor' ->> 'actor_id')::integer, chunk -> 'actor' ->> 'actor_name',
           chunk -> 'actor' ->> 'actor_type', (chunk -> 'actor' -> 'config')::jsonb,
           (chunk -> 'actor' ->> 'timeout_seconds')::numeric, (chunk -> 'actor' ->> 'max_concurrency')::integer,
           posting ->> 'prompt', (posting ->> 'attempt')::integer, (chunk ->> 'claim_token')::uuid,
           (chunk ->> 'lease_expires_at')::timestamptz, (posting -> 'context')::jsonb
      FROM public.claim_chunk_v2(p_run_id, p_worker, p_max_postings, NULL) AS chunk,
           json_array_elements(chunk -> 'postings') AS posting;
$function$;
