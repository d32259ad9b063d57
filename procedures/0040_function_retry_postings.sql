-- retry_postings(posting_id, conversation): put postings that later runs leave out (failed in
-- max_failed_runs() runs) back in: one posting, the postings whose last failure came from that
-- conversation (the step that sent them to the error handler, or the one they failed at), or, with
-- both NULL, all of them. Their failure count and reason are cleared; returns how many.
CREATE OR REPLACE FUNCTION public.retry_postings(p_posting_id bigint DEFAULT NULL, p_conversation text DEFAULT NULL)
RETURNS integer
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH retried AS (
        UPDATE public.postings AS posting
           SET failed_runs = 0, failure_reason = NULL, failed_conversation = NULL, updated_at = now()
         WHERE posting.failed_runs > 0
           AND (p_posting_id IS NULL OR posting.posting_id = p_posting_id)
           AND (p_conversation IS NULL OR posting.failed_conversation = p_conversation)
        RETURNING 1
    )
    SELECT count(*)::integer FROM retried;
$function$;
