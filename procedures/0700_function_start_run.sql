-- start_run(workflow_id, worker, join, resume_run_id, posting_limit, holds_lock): open (or resume, or
-- join) the run of a workflow and route its pending postings to their entry points.
--   * An invalid workflow is refused, and nothing is touched: SQLSTATE TD001 (workflow_invalid), with
--     validate_workflow()'s findings (errors and warnings) as a JSON array in the error's DETAIL, so
--     the caller shows them without validating again. (A worker joining a run that has live workers
--     skips the check: that run's start made it.)
--   * At most one run per workflow is 'running'. While it has live workers (worker_is_live(): its
--     liveness session holds worker_lock(), or, for a worker of an older version, a heartbeat within
--     the lease), a second start is refused unless it joins as another worker. Without live workers
--     it is taken over at once: the dead workers are marked stopped, their claims return to the pool
--     now (not when the lease ends), and only what the checkpoints do not show as done is claimed again.
--   * Resuming a run by id (p_resume_run_id) takes it over even from live workers (the user says they
--     are gone; a worker that is in fact alive has its late results refused as stale, and stops).
--   * p_holds_lock: this worker's liveness session holds worker_lock(p_worker) (see worker_is_live()).
--   * Routing adds every pending posting not yet in the run (up to posting_limit postings in all) at
--     the entry point of its first missing stage, with a 'routed' checkpoint.
CREATE OR REPLACE FUNCTION public.start_run(
    p_workflow_id integer,
    p_worker text,
    p_join boolean DEFAULT false,
    p_resume_run_id bigint DEFAULT NULL,
    p_posting_limit integer DEFAULT NULL,
    p_holds_lock boolean DEFAULT false
)
RETURNS TABLE (workflow_run_id bigint, resumed boolean, postings_routed integer, postings_in_run integer)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    findings    json;
    errors      integer;
    run         public.workflow_runs;
    live        integer := 0;
    last_beat   interval;
    was_resumed boolean := false;
    routed      integer := 0;
    in_run      integer;
BEGIN
    -- LOCK: one start at a time per workflow
    PERFORM pg_advisory_xact_lock(hashtext('turing.start_run'), p_workflow_id);

    -- FIND the run to resume or join
    IF p_resume_run_id IS NOT NULL THEN
        SELECT * INTO run FROM public.workflow_runs AS r
         WHERE r.workflow_run_id = p_resume_run_id FOR UPDATE;
        IF NOT FOUND OR run.workflow_id <> p_workflow_id THEN
            RAISE EXCEPTION 'run % is not a run of workflow %', p_resume_run_id, p_workflow_id
                USING ERRCODE = 'no_data_found';
        END IF;
        IF run.status <> 'running' AND EXISTS (
               SELECT 1 FROM public.workflow_runs AS other
                WHERE other.workflow_id = p_workflow_id AND other.status = 'running') THEN
            RAISE EXCEPTION 'workflow % has another running run: finish or resume that one first', p_workflow_id
                USING ERRCODE = 'lock_not_available';
        END IF;
    ELSE
        SELECT * INTO run FROM public.workflow_runs AS r
         WHERE r.workflow_id = p_workflow_id AND r.status = 'running' FOR UPDATE;
    END IF;

    -- LIVE workers of the run: a second start is refused unless it joins (a takeover stops them)
    IF run.workflow_run_id IS NOT NULL AND p_resume_run_id IS NULL THEN
        SELECT count(*), now() - max(worker.heartbeat_at) INTO live, last_beat
          FROM public.run_workers AS worker
         WHERE worker.workflow_run_id = run.workflow_run_id
           AND worker.worker_id <> p_worker
           AND public.worker_is_live(worker, run.lease_seconds);
        IF live > 0 AND NOT p_join THEN
            RAISE EXCEPTION 'workflow % already has an active run % with % live worker(s) (last heartbeat % ago)',
                            p_workflow_id, run.workflow_run_id, live, date_trunc('second', last_beat)
                USING HINT = format('add this process as another worker with --join; if those workers are in fact '
                                    'gone (hung, or stopped with SIGSTOP), take the run over with --resume %s',
                                    run.workflow_run_id),
                      ERRCODE = 'lock_not_available';
        END IF;
    END IF;

    -- GUARD: only a valid workflow runs (a worker joining a live run skips it: the run's start checked)
    IF live = 0 THEN
        SELECT json_agg(json_build_object('severity', finding.severity, 'check_name', finding.check_name,
                                          'conversation', finding.conversation, 'message', finding.message)
                        ORDER BY finding.position),
               count(*) FILTER (WHERE finding.severity = 'error')
          INTO findings, errors
          FROM public.validate_workflow(p_workflow_id) WITH ORDINALITY
               AS finding (severity, check_name, conversation, message, position)
         WHERE finding.severity <> 'ok';
        IF errors > 0 THEN
            RAISE EXCEPTION 'workflow % is invalid (% error(s), first %): nothing was run', p_workflow_id, errors,
                            (SELECT format('%s [%s]: %s', first.value ->> 'check_name',
                                           coalesce(first.value ->> 'conversation', '-'), first.value ->> 'message')
                               FROM json_array_elements(findings) AS first
                              WHERE first.value ->> 'severity' = 'error' LIMIT 1)
                USING DETAIL = findings::text,
                      HINT = format('SELECT * FROM validate_workflow(%s) lists the findings', p_workflow_id),
                      ERRCODE = 'TD001';
        END IF;
    END IF;

    IF p_resume_run_id IS NOT NULL OR (run.workflow_run_id IS NOT NULL AND live = 0) THEN
        -- TAKE OVER: the run's workers are gone (or the user says so): stop them, and return their
        -- claims now; the locks are taken claim rows first, then workers, as complete_chunk() takes them
        UPDATE public.posting_work AS work SET lease_expires_at = now() - interval '1 second'
         WHERE work.workflow_run_id = run.workflow_run_id AND work.status = 'claimed'
           AND work.claimed_by IS DISTINCT FROM p_worker;
        UPDATE public.run_workers AS worker SET stopped_at = now()
         WHERE worker.workflow_run_id = run.workflow_run_id AND worker.stopped_at IS NULL
           AND worker.worker_id <> p_worker;
        PERFORM public.sweep_expired_claims(run.workflow_run_id);
    END IF;

    IF run.workflow_run_id IS NOT NULL THEN
        was_resumed := live = 0;
        UPDATE public.workflow_runs AS r
           SET status = 'running', finished_at = NULL, heartbeat_at = now()
         WHERE r.workflow_run_id = run.workflow_run_id;
    ELSE
        INSERT INTO public.workflow_runs AS r (workflow_id, posting_limit)
        VALUES (p_workflow_id, p_posting_limit)
        RETURNING * INTO run;
    END IF;

    -- REGISTER this worker
    INSERT INTO public.run_workers AS worker (workflow_run_id, worker_id, holds_lock)
    VALUES (run.workflow_run_id, p_worker, p_holds_lock)
    ON CONFLICT ON CONSTRAINT run_workers_pkey
    DO UPDATE SET heartbeat_at = now(), stopped_at = NULL, holds_lock = p_holds_lock;

    SELECT count(*) INTO in_run FROM public.posting_work AS work WHERE work.workflow_run_id = run.workflow_run_id;

    -- ROUTE pending postings that are not in the run yet (a joining worker routes nothing)
    IF NOT (p_join AND live > 0) THEN
        WITH candidate AS (
            SELECT route.posting_id, route.entry_conversation_id
              FROM public.posting_entry_points(p_workflow_id) AS route
             WHERE route.entry_conversation_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM public.posting_work AS work
                                WHERE work.workflow_run_id = run.workflow_run_id
                                  AND work.posting_id = route.posting_id)
             ORDER BY route.posting_id
             LIMIT CASE WHEN run.posting_limit IS NULL THEN NULL ELSE greatest(run.posting_limit - in_run, 0) END
        ), kept_posting AS (
            -- postings and entry points cannot be deleted until this commits (what a foreign key's lock
            -- did); one deleted meanwhile is skipped here, and guard_work_references() refuses later deletes
            SELECT posting.posting_id FROM public.postings AS posting
             WHERE posting.posting_id IN (SELECT candidate.posting_id FROM candidate)
               FOR KEY SHARE OF posting
        ), kept_entry AS (
            SELECT entry.conversation_id FROM public.conversations AS entry
             WHERE entry.conversation_id IN (SELECT candidate.entry_conversation_id FROM candidate)
               FOR KEY SHARE OF entry
        ), added AS (
            INSERT INTO public.posting_work (workflow_run_id, posting_id, conversation_id, visits)
            SELECT run.workflow_run_id, candidate.posting_id, candidate.entry_conversation_id,
                   jsonb_build_object(candidate.entry_conversation_id::text, 1)
              FROM candidate
              JOIN kept_posting ON kept_posting.posting_id = candidate.posting_id
              JOIN kept_entry ON kept_entry.conversation_id = candidate.entry_conversation_id
            ON CONFLICT DO NOTHING
            RETURNING posting_id, conversation_id
        ), checkpoint AS (
            INSERT INTO public.posting_state_checkpoints
                   (workflow_run_id, posting_id, conversation_id, state, next_conversation_id)
            SELECT run.workflow_run_id, added.posting_id, NULL, 'routed', added.conversation_id FROM added
        )
        SELECT count(*) INTO routed FROM added;
        in_run := in_run + routed;
        UPDATE public.workflow_runs AS r SET postings_routed = r.postings_routed + routed
         WHERE r.workflow_run_id = run.workflow_run_id;
        IF routed > 0 THEN
            ANALYZE public.posting_work;  -- fresh rows have no statistics: claims would plan blind
        END IF;
    END IF;

    RETURN QUERY SELECT run.workflow_run_id, was_resumed, routed, in_run;
END;
$function$;
