-- prune_finished_runs(older_than): retention for runs that finished before now() - older_than. Deleted:
-- their checkpoints, work rows and actor calls, and those of their outputs that a later output of
-- the same posting and conversation has replaced (the latest output of each stays: later runs'
-- templates read {output:…}); alerts taken before then. The runs' own rows stay, as history (and
-- postings.failed_runs keeps what routing needs). Returns what it deleted, per table.
--   SELECT * FROM prune_finished_runs(interval '30 days');
-- Nightly, with pg_cron:
--   SELECT cron.schedule('turing-prune', '0 3 * * *', $$SELECT prune_finished_runs(interval '30 days')$$);
CREATE OR REPLACE FUNCTION public.prune_finished_runs(p_older_than interval)
RETURNS TABLE (runs bigint, checkpoints bigint, outputs bigint, calls bigint, work_rows bigint, alerts bigint)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    old_runs bigint[];
BEGIN
    IF p_older_than IS NULL OR p_older_than < interval '0' THEN
        RAISE EXCEPTION 'prune_finished_runs needs an age of zero or more, not %', p_older_than
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    old_runs := ARRAY(SELECT run.workflow_run_id FROM public.workflow_runs AS run
                       WHERE run.status <> 'running' AND run.finished_at < now() - p_older_than);
    RETURN QUERY
    WITH checkpoints AS (
        DELETE FROM public.posting_state_checkpoints AS checkpoint
         WHERE checkpoint.workflow_run_id = ANY (old_runs) RETURNING 1
    ), outputs AS (
        DELETE FROM public.conversation_outputs AS output
         WHERE output.workflow_run_id = ANY (old_runs)
           AND EXISTS (SELECT 1 FROM public.conversation_outputs AS later
                        WHERE later.posting_id = output.posting_id AND later.conversation_id = output.conversation_id
                          AND later.output_id > output.output_id)
        RETURNING 1
    ), calls AS (
        DELETE FROM public.actor_calls AS call WHERE call.workflow_run_id = ANY (old_runs) RETURNING 1
    ), work AS (
        DELETE FROM public.posting_work AS work WHERE work.workflow_run_id = ANY (old_runs) RETURNING 1
    ), taken AS (
        DELETE FROM public.alerts AS alert WHERE alert.taken_at < now() - p_older_than RETURNING 1
    )
    SELECT cardinality(old_runs)::bigint, (SELECT count(*) FROM checkpoints), (SELECT count(*) FROM outputs),
           (SELECT count(*) FROM calls), (SELECT count(*) FROM work), (SELECT count(*) FROM taken);
END;
$function$;
