-- template_token_pattern(): the regular expression that finds the tokens of a prompt template, tried
-- in this order at each position: '{{', '}}', '{…}' without inner braces, then a lone '{' or '}'.
-- Inlined into its callers (no SET clause, which would prevent inlining).
CREATE OR REPLACE FUNCTION public.template_token_pattern()
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
RETURN '\{\{|\}\}|\{[^{}]*\}|\{|\}';
