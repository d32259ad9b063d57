-- workflow_branch_list(workflow_id, branches): the rows of workflow_branches(), from `branches` when a
-- caller such as validate_workflow() computed them once for several checks, else computed here.
-- Inlined into its callers (no SET clause, which would prevent inlining); every name is qualified.
CREATE OR REPLACE FUNCTION public.workflow_branch_list(
    p_workflow_id integer,
    p_branches public.workflow_branch[])
RETURNS SETOF public.workflow_branch
LANGUAGE sql
STABLE
AS $function$
    SELECT * FROM pg_catalog.unnest(p_branches) WHERE p_branches IS NOT NULL
    UNION ALL
    SELECT * FROM public.workflow_branches(p_workflow_id) WHERE p_branches IS NULL;
$function$;
