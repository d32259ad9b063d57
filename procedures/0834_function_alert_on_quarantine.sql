-- alert_on_quarantine(): the trigger on postings that raises a posting_quarantined alert when a
-- posting is quarantined (quarantined_at set where it was not), with its reason.
CREATE OR REPLACE FUNCTION public.alert_on_quarantine()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public, pg_temp
AS $function$
BEGIN
    PERFORM public.raise_alert('posting_quarantined', jsonb_build_object(
        'posting_id', NEW.posting_id, 'job_title', NEW.job_title, 'reason', NEW.quarantine_reason,
        'quarantined_at', NEW.quarantined_at));
    RETURN NULL;
END;
$function$;
