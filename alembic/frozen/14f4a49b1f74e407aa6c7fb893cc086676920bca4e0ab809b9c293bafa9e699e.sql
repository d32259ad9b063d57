-- run_status(run_id): one run as `turing status --run ID` shows it, as JSON:
--   run          workflow_run_id, workflow_id, status, started_at, finished_at, seconds (so far)
--   progress     waiting, claimed, done, failed, quarantined (run_progress())
--   deferred     waiting postings not to be claimed before a not-before time (a long Retry-After)
--   throughput   steps (checkpoints of completed, ended and failed steps) per second over the run,
--                and over its last minute
--   conversations  run_summary(): per conversation completed, ended, failed, quarantined, calls,
--                errors, latency
--   workers      worker_id, started_at, heartbeat_at, seconds_since_heartbeat, stopped_at
--   errors       the run's failed calls by actor, conversation and kind (recent_errors())
-- NULL when there is no such run.
CREATE OR REPLACE FUNCTION public.run_status(p_run_id bigint)
RETURNS json
LANGUAGE sql
STABLE
SET search_path = pg_catalog, public, pg_temp
AS $function$
    SELECT json_build_object(
        'run', json_build_object(
            'workflow_run_id', run.workflow_run_id, 'workflow_id', run.workflow_id, 'status', run.status,
            'started_at', run.started_at, 'finished_at', run.finished_at,
            'seconds', extract(epoch FROM coalesce(run.finished_at, now()) - run.started_at)),
        'progress', (SELECT row_to_json(progress) FROM public.run_progress(run.workflow_run_id) AS progress),
        'deferred', (SELECT count(*) FROM public.posting_work AS work
                      WHERE work.workflow_run_id = run.workflow_run_id AND work.status = 'waiting'
                        AND work.not_before > now()),
        'throughput', (SELECT json_build_object(
                           'steps', count(*),
                           'steps_per_second', round(count(*) / greatest(extract(epoch FROM
                               coalesce(run.finished_at, now()) - run.started_at), 0.001)::numeric, 1),
                           'last_minute_steps_per_second', round(count(*) FILTER (
                               WHERE checkpoint.created_at > now() - interval '1 minute') / 60.0, 1))
                         FROM public.posting_state_checkpoints AS checkpoint
                        WHERE checkpoint.workflow_run_id = run.workflow_run_id
                          AND checkpoint.state IN ('completed', 'ended', 'failed')),
        'conversations', (SELECT coalesce(json_agg(summary ORDER BY summary.execution_order), '[]')
                            FROM public.run_summary(run.workflow_run_id) AS summary),
        'workers', (SELECT coalesce(json_agg(json_build_object(
                               'worker_id', worker.worker_id, 'started_at', worker.started_at,
                               'heartbeat_at', worker.heartbeat_at,
                               'seconds_since_heartbeat', round(extract(epoch FROM now() - worker.heartbeat_at)::numeric, 1),
                               'stopped_at', worker.stopped_at) ORDER BY worker.started_at), '[]')
                      FROM public.run_workers AS worker WHERE worker.workflow_run_id = run.workflow_run_id),
        'errors', (SELECT coalesce(json_agg(failed), '[]')
                     FROM public.recent_errors(now() - run.started_at + interval '1 minute', run.workflow_run_id)
                          AS failed))
      FROM public.workflow_runs AS run
     WHERE run.workflow_run_id = p_run_id;
$function$;
