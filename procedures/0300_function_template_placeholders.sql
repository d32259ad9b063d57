-- template_placeholders(template): the placeholders of a prompt template, left to right.
-- '{{' and '}}' are literal braces; '{name}' names a postings column; '{output:<canonical_name>}' the
-- latest output of a conversation; a lone '{' or '}' or any other '{...}' is malformed. The renderer
-- and validate_workflow() read templates through this one function, so they cannot disagree.
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.template_placeholders(p_template text)
RETURNS TABLE (ordinal bigint, token text, kind text, name text)
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $function$
    SELECT match.ordinal,
           match.token[1],
           CASE
               WHEN match.token[1] IN ('{{', '}}') THEN 'literal'
               WHEN match.token[1] ~ '^\{[a-z_][a-z0-9_]*\}$' THEN 'column'
               WHEN match.token[1] ~ '^\{output:[a-z][a-z0-9_]*\}$' THEN 'output'
               ELSE 'malformed'
           END,
           CASE
               WHEN match.token[1] ~ '^\{[a-z_][a-z0-9_]*\}$' THEN pg_catalog.substr(match.token[1], 2, pg_catalog.length(match.token[1]) - 2)
               WHEN match.token[1] ~ '^\{output:[a-z][a-z0-9_]*\}$' THEN pg_catalog.substr(match.token[1], 9, pg_catalog.length(match.token[1]) - 9)
           END
      FROM pg_catalog.regexp_matches(p_template, '\{\{|\}\}|\{[^{}]*\}|\{|\}', 'g') WITH ORDINALITY AS match (token, ordinal)
     WHERE match.token[1] NOT IN ('{{', '}}');
$function$;
