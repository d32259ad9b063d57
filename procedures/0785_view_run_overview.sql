-- run_overview: every run with its postings by state (run_progress()), newest first when ordered by
-- workflow_run_id DESC: what `turing status` lists as the latest runs.
CREATE OR REPLACE VIEW public.run_overview AS
SELECT run.workflow_run_id, run.workflow_id, run.status, run.started_at, run.finished_at,
       progress.waiting, progress.claimed, progress.done, progress.failed, progress.quarantined
  FROM public.workflow_runs AS run
 CROSS JOIN LATERAL public.run_progress(run.workflow_run_id) AS progress;
