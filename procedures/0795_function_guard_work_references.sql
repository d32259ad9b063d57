-- guard_work_references(): what two foreign keys refused, checked once per statement instead of once
-- per written row (actor_calls.actor_id and posting_work.conversation_id are written 500 rows at a
-- time from ids that complete_chunk() and start_run() have just read from their tables). Refuses to
-- delete, or to change the id of, an actor that has logged calls, or a conversation at which postings
-- of a run are waiting or claimed. A statement-level AFTER DELETE and AFTER UPDATE trigger on actors
-- and on conversations (transition table "gone": the rows as they were); an id is lost when no row of
-- the table has it after the statement.
CREATE OR REPLACE FUNCTION public.guard_work_references()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    lost integer;
BEGIN
    IF TG_TABLE_NAME = 'actors' THEN
        SELECT gone.actor_id INTO lost FROM gone
         WHERE NOT EXISTS (SELECT 1 FROM public.actors AS actor WHERE actor.actor_id = gone.actor_id)
           AND EXISTS (SELECT 1 FROM public.actor_calls AS call WHERE call.actor_id = gone.actor_id)
         LIMIT 1;
        IF lost IS NOT NULL THEN
            RAISE EXCEPTION 'actor % has logged calls (actor_calls): it cannot be deleted or renumbered', lost
                USING HINT = 'disable it instead (actors.enabled = false)', ERRCODE = 'foreign_key_violation';
        END IF;
    ELSE
        SELECT gone.conversation_id INTO lost FROM gone
         WHERE NOT EXISTS (SELECT 1 FROM public.conversations AS conversation
                            WHERE conversation.conversation_id = gone.conversation_id)
           AND EXISTS (SELECT 1 FROM public.posting_work AS work WHERE work.conversation_id = gone.conversation_id)
         LIMIT 1;
        IF lost IS NOT NULL THEN
            RAISE EXCEPTION 'conversation % has postings of a run waiting at it or claimed (posting_work): it cannot be deleted or renumbered', lost
                USING HINT = 'let the run finish, or delete the run first', ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    RETURN NULL;
END;
$function$;
