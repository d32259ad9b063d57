-- prompt_expression(template): a prompt template compiled into one SQL expression over a row of
-- postings named "posting". The text between tokens is kept as it is (a quoted literal); '{{' and '}}'
-- become single braces; '{column}' becomes the posting's value (a quoted identifier; jsonb columns as
-- JSON text, NULL and unknown columns as empty); '{output:<canonical_name>}' becomes the latest
-- successful output of that conversation for the posting (empty if none); a malformed token stays as
-- written. Values are inserted once and never expanded again, so a value that contains braces, quotes
-- or SQL is just text. render_prompts() and claim_chunk() evaluate it for a chunk in one scan.
CREATE OR REPLACE FUNCTION public.prompt_expression(p_template text)
RETURNS text
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
                     SELECT 1 FROM public.posting_columns() AS posting_column WHERE posting_column.column_name = token.name)
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
    RETURN expression;
END;
$function$;
