-- template_placeholders(template): the tokens of a prompt template, left to right: '{{' and '}}'
-- (kind 'literal', rendered as one brace), '{name}' ('column': a postings column),
-- '{output:<canonical_name>}' ('output': the latest output of that conversation), and anything else
-- in braces, or a lone brace ('malformed'). render_prompts() and validate_workflow() both read
-- templates through this function and template_token_pattern(), so they cannot disagree.
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.template_placeholders(p_template text)
RETURNS TABLE (ordinal bigint, token text, kind text, name text)
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $function$
    SELECT match.ordinal,
           match.token[1],
           CASE
               WHEN match.token[1] OPERATOR(pg_catalog.=) ANY (ARRAY['{{', '}}']) THEN 'literal'
               WHEN match.token[1] OPERATOR(pg_catalog.~) '^\{[a-z_][a-z0-9_]*\}$' THEN 'column'
               WHEN match.token[1] OPERATOR(pg_catalog.~) '^\{output:[a-z][a-z0-9_]*\}$' THEN 'output'
               ELSE 'malformed'
           END,
           pg_catalog.substring(match.token[1], '^\{(?:output:)?([a-z_][a-z0-9_]*)\}$')
      FROM pg_catalog.regexp_matches(p_template, public.template_token_pattern(), 'g') WITH ORDINALITY
           AS match (token, ordinal);
$function$;
