-- posting_dedup_key(title, description): the identity of a posting's text. Case and runs of white
-- space do not make a posting new. Used by the generated column postings.dedup_key (UNIQUE), so the
-- same posting imported twice is refused by the database itself.
CREATE OR REPLACE FUNCTION public.posting_dedup_key(job_title text, job_description text)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE STRICT
SET search_path = pg_catalog, public, pg_temp
RETURN md5(lower(regexp_replace(btrim(job_title), '\s+', ' ', 'g')) || E'\n' ||
           lower(regexp_replace(btrim(job_description), '\s+', ' ', 'g')));
