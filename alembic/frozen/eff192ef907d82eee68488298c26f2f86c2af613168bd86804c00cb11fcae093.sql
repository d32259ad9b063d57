-- render_prompts(template, posting_ids): the template rendered once for each posting, literally, by
-- the expression prompt_expression() compiles (one scan of the postings for the whole chunk).
CREATE OR REPLACE FUNCTION public.render_prompts(p_template text, p_posting_ids bigint[])
RETURNS TABLE (posting_id bigint, prompt text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT posting.posting_id, %s FROM public.postings AS posting WHERE posting.posting_id = ANY ($1)',
        public.prompt_expression(p_template))
    USING p_posting_ids;
END;
$function$;
