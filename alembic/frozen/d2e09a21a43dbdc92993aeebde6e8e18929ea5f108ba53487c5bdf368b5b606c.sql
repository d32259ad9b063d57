-- delete_log_rows(): what deleting runs or postings does to the per-step logs, which carry no foreign
-- keys to them (checking a key per written row cost a third of every completion). As the keys did:
-- their outputs go with them, and their actor calls stay, unlinked, for the performance figures.
-- A statement-level AFTER DELETE trigger on workflow_runs and on postings (transition table "gone").
CREATE OR REPLACE FUNCTION public.delete_log_rows()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $function$
BEGIN
    IF TG_TABLE_NAME = 'workflow_runs' THEN
        DELETE FROM public.conversation_outputs AS output USING gone
         WHERE output.workflow_run_id = gone.workflow_run_id;
        UPDATE public.actor_calls AS call SET workflow_run_id = NULL FROM gone
         WHERE call.workflow_run_id = gone.workflow_run_id;
    ELSE
        DELETE FROM public.conversation_outputs AS output USING gone
         WHERE output.posting_id = gone.posting_id;
        UPDATE public.actor_calls AS call SET posting_id = NULL FROM gone
         WHERE call.posting_id = gone.posting_id;
    END IF;
    RETURN NULL;
END;
$function$;
