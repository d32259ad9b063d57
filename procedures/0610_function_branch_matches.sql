-- branch_matches(condition, output, sentinel): does a branch condition match an outcome?
-- A condition in brackets names an engine outcome (engine_sentinels() lists them) and matches only
-- that outcome; '*' matches any output; any other condition matches an output that contains it
-- (case-sensitive). An error outcome (sentinel not NULL) is matched by sentinels only.
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.branch_matches(p_condition text, p_output text, p_sentinel text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
RETURN CASE
           WHEN p_condition OPERATOR(pg_catalog.~) '^\[[A-Z_]+\]$' THEN p_condition IS NOT DISTINCT FROM p_sentinel
           WHEN p_sentinel IS NOT NULL THEN false
           WHEN p_condition OPERATOR(pg_catalog.=) '*' THEN true
           ELSE pg_catalog.strpos(p_output, p_condition) OPERATOR(pg_catalog.>) 0
       END;
