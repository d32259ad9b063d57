-- posting_columns(): the columns of postings — name, type (format_type without modifiers) and
-- position — for code that renders, claims or saves by column name (templates, contexts, stages).
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.posting_columns()
RETURNS TABLE (column_name text, column_type text, column_position integer)
LANGUAGE sql
STABLE PARALLEL SAFE
AS $function$
    SELECT attribute.attname::text, pg_catalog.format_type(attribute.atttypid, NULL), attribute.attnum::integer
      FROM pg_catalog.pg_attribute AS attribute
     WHERE attribute.attrelid OPERATOR(pg_catalog.=) 'public.postings'::pg_catalog.regclass
       AND attribute.attnum OPERATOR(pg_catalog.>) 0
       AND NOT attribute.attisdropped;
$function$;
