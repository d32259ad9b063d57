-- render_prompts(template, posting_ids): the template rendered once for each posting, literally.
-- The text between tokens is kept as it is; '{{' and '}}' become single braces; '{column}' becomes the
-- posting's value (jsonb columns as JSON text, NULL as empty); '{output:<canonical_name>}' becomes the
-- latest successful output of that conversation for the posting (empty if none); a malformed token
-- stays as written. Values are inserted once and never expanded again, so a value that contains
-- braces, quotes or SQL is just text.
CREATE OR REPLACE FUNCTION public.render_prompts(p_template text, p_posting_ids bigint[])
RETURNS TABLE (posting_id bigint, prompt text)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    WITH piece AS (  -- n tokens split the template into n + 1 pieces
        SELECT piece.ordinal, piece.text
          FROM unnest(regexp_split_to_array(p_template, public.template_token_pattern()))
               WITH ORDINALITY AS piece (text, ordinal)
    ), token AS (
        SELECT * FROM public.template_placeholders(p_template)
    ), posting AS (
        SELECT posting.posting_id, to_jsonb(posting) AS fields
          FROM public.postings AS posting
         WHERE posting.posting_id = ANY (p_posting_ids)
    )
    SELECT posting.posting_id,
           string_agg(piece.text || coalesce(
               CASE token.kind
                   WHEN 'literal' THEN left(token.token, 1)
                   WHEN 'column' THEN posting.fields ->> token.name
                   WHEN 'output' THEN (
                       SELECT output.output
                         FROM public.conversation_outputs AS output
                         JOIN public.conversations AS source ON source.conversation_id = output.conversation_id
                        WHERE output.posting_id = posting.posting_id
                          AND source.canonical_name = token.name
                          AND NOT output.is_error
                        ORDER BY output.output_id DESC
                        LIMIT 1)
                   WHEN 'malformed' THEN token.token
               END, ''), '' ORDER BY piece.ordinal)
      FROM posting
     CROSS JOIN piece
      LEFT JOIN token ON token.ordinal = piece.ordinal
     GROUP BY posting.posting_id;
$function$;
