-- check_strict_workflows(): refuses, when the transaction commits, a change that leaves a strict
-- workflow (workflows.strict) with a validation error; the error's DETAIL holds every error as JSON.
-- A deferred constraint trigger on each table a definition lives in (workflows, workflow_conversations,
-- conversations, instructions, instruction_steps, actors, stages): each changed row names the workflows
-- it can affect (a change to the global error handler, to the stages, or to an actor's api_key_env
-- affects all), and each of those is validated once per batch of firing triggers however many of its
-- rows changed. A batch is the changes counted so far (count_definition_changes()): the COMMIT, or a
-- statement under SET CONSTRAINTS … IMMEDIATE. The workflows checked in the batch are kept in the
-- setting turing.strict_checked for the transaction (a guard against mistakes: the owner who could
-- forge it could as well unset strict).
CREATE OR REPLACE FUNCTION public.check_strict_workflows()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
AS $function$
DECLARE
    changed jsonb[] := ARRAY[to_jsonb(OLD), to_jsonb(NEW)];  -- OLD is NULL on INSERT, NEW on DELETE
    batch CONSTANT text := txid_current()::text || ':'
                           || coalesce(nullif(current_setting('turing.definition_changes', true), ''), '0');
    seen CONSTANT text := coalesce(current_setting('turing.strict_checked', true), '');
    checked integer[] := CASE WHEN split_part(seen, '|', 1) = batch
                              THEN string_to_array(nullif(split_part(seen, '|', 2), ''), ',')::integer[]
                              ELSE '{}'::integer[] END;
    affected integer[];
    workflow integer;
    errors jsonb;
BEGIN
    WITH touched AS (  -- the conversations the changed rows belong to
        SELECT (row_json ->> 'conversation_id')::integer AS conversation_id
          FROM unnest(changed) AS row_json WHERE TG_TABLE_NAME IN ('conversations', 'instructions')
        UNION
        SELECT instruction.conversation_id
          FROM unnest(changed) AS row_json
          JOIN public.instructions AS instruction
            ON instruction.instruction_id = (row_json ->> 'instruction_id')::integer
         WHERE TG_TABLE_NAME = 'instruction_steps'
        UNION
        SELECT conversation.conversation_id
          FROM unnest(changed) AS row_json
          JOIN public.conversations AS conversation ON conversation.actor_id = (row_json ->> 'actor_id')::integer
         WHERE TG_TABLE_NAME = 'actors'
    ), every_workflow_touched AS (  -- the error handler, the stages or an API key's name: all of them
        SELECT TG_TABLE_NAME = 'stages'
            OR EXISTS (SELECT FROM unnest(changed) AS row_json
                        WHERE TG_TABLE_NAME = 'conversations' AND row_json ->> 'conversation_type' = 'error_handler')
            OR EXISTS (SELECT FROM unnest(changed) AS row_json
                        WHERE TG_TABLE_NAME = 'actors' AND row_json -> 'config' ? 'api_key_env')
            OR EXISTS (SELECT FROM touched JOIN public.conversations AS conversation USING (conversation_id)
                        WHERE conversation.conversation_type = 'error_handler') AS yes
    )
    SELECT array_agg(candidate.workflow_id ORDER BY candidate.workflow_id) INTO affected
      FROM public.workflows AS candidate
     WHERE candidate.strict
       AND candidate.workflow_id <> ALL (checked)
       AND ((SELECT yes FROM every_workflow_touched)
            OR candidate.workflow_id IN (SELECT (row_json ->> 'workflow_id')::integer FROM unnest(changed) AS row_json
                                          WHERE TG_TABLE_NAME IN ('workflows', 'workflow_conversations'))
            OR EXISTS (SELECT FROM public.workflow_conversations AS step JOIN touched USING (conversation_id)
                        WHERE step.workflow_id = candidate.workflow_id));
    IF affected IS NULL THEN
        RETURN NULL;
    END IF;
    FOREACH workflow IN ARRAY affected LOOP
        checked := checked || workflow;
        SELECT jsonb_agg(jsonb_build_object('check', finding.check_name, 'conversation', finding.conversation,
                                            'message', finding.message))
          INTO errors
          FROM public.validate_workflow(workflow) AS finding WHERE finding.severity = 'error';
        IF errors IS NOT NULL THEN
            RAISE EXCEPTION 'workflow % is strict: this change would leave it with % error(s), the first: %',
                            workflow, jsonb_array_length(errors), errors -> 0 ->> 'message'
                USING ERRCODE = 'TD003', DETAIL = errors::text,
                      HINT = format('make the whole edit in one transaction (a strict workflow is checked when it '
                                    'commits), or first: UPDATE workflows SET strict = false WHERE workflow_id = %s',
                                    workflow);
        END IF;
    END LOOP;
    PERFORM set_config('turing.strict_checked', batch || '|' || array_to_string(checked, ','), true);
    RETURN NULL;
END;
$function$;
