-- render_prompts(template, posting_ids): the template rendered once for each posting, literally.
-- The text between tokens is kept as it is; '{{' and '}}' become single braces; '{column}' becomes the
-- posting's value (jsonb columns as JSON text, NULL and unknown columns as empty);
-- '{output:<canonical_name>}' becomes the latest successful output of that conversation for the
-- posting (empty if none); a malformed token stays as written. Values are inserted once and never
-- expanded again, so a value that contains braces, quotes or SQL is just text.
-- The template is compiled into one SQL expression (every piece a quoted literal, every column a
-- quoted identifier of postings), so a chunk of postings is rendered in one scan.
CREATE OR REPLACE FUNCTION public.render_prompts(p_template text, p_posting_ids bigint[])
RETURNS TABLE (posting_id bigint, prompt text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    pieces     text[] := regexp_split_to_array(p_template, public.template_token_pattern());
    expression text := quote_literal(pieces[1]);
    token      record;
BEGIN
    FOR token IN SELECT * FROM public.template_placeholders(p_template) ORDER BY ordinal LOOP
        expression := expression || ' || ' || CASE
            WHEN token.kind = 'literal' THEN quote_literal(left(token.token, 1))
            WHEN token.kind = 'column' AND EXISTS (
                     SELECT 1 FROM pg_attribute AS attribute
                      WHERE attribute.attrelid = 'public.postings'::regclass AND attribute.attnum > 0
                        AND NOT attribute.attisdropped AND attribute.attname = token.name)
                THEN format('coalesce(posting.%I::text, %L)', token.name, '')
            WHEN token.kind = 'output'
                THEN format('coalesce((SELECT output.output FROM public.conversation_outputs AS output '
                            'JOIN public.conversations AS source ON source.conversation_id = output.conversation_id '
                            'WHERE output.posting_id = posting.posting_id AND source.canonical_name = %L '
                            'AND NOT output.is_error ORDER BY output.output_id DESC LIMIT 1), %L)', token.name, '')
            WHEN token.kind = 'malformed' THEN quote_literal(token.token)
            ELSE quote_literal('')
        END || ' || ' || quote_literal(pieces[token.ordinal + 1]);
    END LOOP;
    RETURN QUERY EXECUTE format(
        'SELECT posting.posting_id, %s FROM public.postings AS posting WHERE posting.posting_id = ANY ($1)',
        expression)
    USING p_posting_ids;
END;
$function$;
