-- template_placeholder_list(template): the placeholders of a prompt template that a validator checks
-- (every token of template_placeholders() but the literal '{{' and '}}'), left to right, as a JSON
-- array of {token, kind, name}. instructions.placeholders stores it, computed when a template is
-- written, so that validate_workflow() reads the tokens instead of parsing every template each time.
CREATE OR REPLACE FUNCTION public.template_placeholder_list(p_template text)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('token', token.token, 'kind', token.kind,
                                                                       'name', token.name)
                                         ORDER BY token.ordinal), '[]'::jsonb)
      FROM public.template_placeholders(p_template) AS token
     WHERE token.kind OPERATOR(pg_catalog.<>) 'literal';
$function$;
