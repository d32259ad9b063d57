-- error_summary: failed actor calls per hour, actor, conversation and kind of error.
-- Answers "which actor is failing, since when, and how". Read by operators:
--   SELECT * FROM error_summary WHERE error_hour > NOW() - INTERVAL '1 hour';
CREATE OR REPLACE VIEW public.error_summary AS
SELECT date_trunc('hour', call.created_at) AS error_hour,
       actor.actor_name,
       conversation.canonical_name          AS conversation,
       call.error_kind,
       count(*)                             AS error_count,
       min(call.created_at)                 AS first_seen,
       max(call.created_at)                 AS last_seen
  FROM public.actor_calls AS call
  JOIN public.actors AS actor ON actor.actor_id = call.actor_id
  LEFT JOIN public.conversations AS conversation ON conversation.conversation_id = call.conversation_id
 WHERE call.status = 'error'
 GROUP BY 1, 2, 3, 4;
