-- delete_log_rows(): what deleting runs or postings does to the rows that carry no foreign key to
-- them (checking a key per written row cost a third of every completion): the work queue and the
-- per-step logs. As the keys did: a posting's work rows, outputs and checkpoints go with it, a run's
-- outputs and checkpoints with the run, and their actor calls stay, unlinked, for the performance
-- figures. A statement-level AFTER DELETE trigger on workflow_runs and on postings (transition table
-- "gone"), so deleting many rows costs one join, not one lookup per row.
CREATE OR REPLACE FUNCTION public.delete_log_rows()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $function$
BEGIN
    IF TG_TABLE_NAME = 'workflow_runs' THEN
        DELETE FROM public.conversation_outputs AS output USING gone
         WHERE output.workflow_run_id = gone.workflow_run_id;
        DELETE FROM public.posting_state_checkpoints AS checkpoint USING gone
         WHERE checkpoint.workflow_run_id = gone.workflow_run_id;
        UPDATE public.actor_calls AS call SET workflow_run_id = NULL FROM gone
         WHERE call.workflow_run_id = gone.workflow_run_id;
    ELSE
        DELETE FROM public.posting_work AS work USING gone
         WHERE work.posting_id = gone.posting_id;
        DELETE FROM public.conversation_outputs AS output USING gone
         WHERE output.posting_id = gone.posting_id;
        DELETE FROM public.posting_state_checkpoints AS checkpoint USING gone
         WHERE checkpoint.posting_id = gone.posting_id;
        UPDATE public.actor_calls AS call SET posting_id = NULL FROM gone
         WHERE call.posting_id = gone.posting_id;
    END IF;
    RETURN NULL;
END;
$function$;
