-- insert_postings(rows): insert a batch of validated postings, skipping duplicates, and say for each
-- input row what happened. rows is a JSON array of {line, job_title, job_description, company,
-- location, employment_type, seniority, source, external_id} (source defaults to 'import').
-- A row is a duplicate when a stored posting has the same dedup_key (normalised title and
-- description) or the same source and external_id, or when an earlier line of the batch has the same
-- dedup_key: it is skipped (posting_id NULL), with existing_posting_id naming the stored posting
-- (NULL: the earlier line). One row per input line, in line order.
CREATE OR REPLACE FUNCTION public.insert_postings(p_rows jsonb)
RETURNS TABLE (line integer, posting_id bigint, existing_posting_id bigint)
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH input AS (
        SELECT r.*, public.posting_dedup_key(r.job_title, r.job_description) AS dedup_key,
               row_number() OVER (PARTITION BY public.posting_dedup_key(r.job_title, r.job_description)
                                  ORDER BY r.line) AS copy_number
          FROM jsonb_to_recordset(p_rows) AS r (
               line integer, job_title text, job_description text, company text, location text,
               employment_type text, seniority text, source text, external_id text)
    ), inserted AS (
        INSERT INTO public.postings (job_title, job_description, company, location, employment_type,
                                     seniority, source, external_id)
        SELECT input.job_title, input.job_description, input.company, input.location, input.employment_type,
               input.seniority, coalesce(input.source, 'import'), input.external_id
          FROM input WHERE input.copy_number = 1
         ORDER BY input.line
        ON CONFLICT DO NOTHING
        RETURNING postings.posting_id, postings.dedup_key
    )
    SELECT input.line, inserted.posting_id,
           coalesce(same_text.posting_id, same_id.posting_id)
      FROM input
      LEFT JOIN inserted ON inserted.dedup_key = input.dedup_key AND input.copy_number = 1
      LEFT JOIN public.postings AS same_text ON same_text.dedup_key = input.dedup_key
      LEFT JOIN public.postings AS same_id
             ON same_id.source = coalesce(input.source, 'import') AND same_id.external_id = input.external_id
     ORDER BY input.line;
$function$;
