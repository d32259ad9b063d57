"""alerts: a table of alerts for operators (an outbox), raised by triggers when a circuit breaker opens
or closes and when a posting is quarantined, and by the runner when a worker fails; take_alerts()
hands each to one worker process, which logs it and runs TURING_ALERT_COMMAND / posts it to
TURING_ALERT_WEBHOOK

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE alerts (
    alert_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event     text NOT NULL,   -- circuit_breaker_open, circuit_breaker_closed, posting_quarantined, run_failed
    details   jsonb NOT NULL,
    raised_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    taken_by  text,            -- the worker that delivers it, once
    taken_at  timestamptz,
    delivery  jsonb            -- how each channel went: {"command": "ok" | error, "webhook": …}
);
CREATE INDEX alerts_waiting_idx ON alerts (alert_id) WHERE taken_at IS NULL;
COMMENT ON TABLE alerts IS 'alerts for operators, each delivered once by a worker process (take_alerts)';
"""

TRIGGERS = """
CREATE TRIGGER circuit_breaker_events_alert AFTER INSERT ON circuit_breaker_events
    FOR EACH ROW EXECUTE FUNCTION public.alert_on_breaker_change();
CREATE TRIGGER postings_quarantine_alert AFTER UPDATE OF quarantined_at ON postings
    FOR EACH ROW WHEN (OLD.quarantined_at IS NULL AND NEW.quarantined_at IS NOT NULL)
    EXECUTE FUNCTION public.alert_on_quarantine();
"""

DOWNGRADE = """
DROP TRIGGER postings_quarantine_alert ON postings;
DROP TRIGGER circuit_breaker_events_alert ON circuit_breaker_events;
DROP FUNCTION public.take_alerts(text, integer);
DROP FUNCTION public.alert_on_quarantine();
DROP FUNCTION public.alert_on_breaker_change();
DROP FUNCTION public.raise_alert(text, jsonb);
DROP TABLE alerts;
"""


def upgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, UPGRADE)
    # INSTALL-BEGIN
    install(
        connection,
        "0830_function_raise_alert.sql",
        "87823ff7cbb3666fca585331f824b8c5b28ea55638bc38ea04bf83fb02f50477",
    )
    install(
        connection,
        "0832_function_alert_on_breaker_change.sql",
        "371b1f3bf7251ca2f504c21d04fe95b3666721a87a92120fd28f2fd3a5663ab9",
    )
    install(
        connection,
        "0834_function_alert_on_quarantine.sql",
        "efe0863191e2afa12693f5818a8e41a7836534c008057e76365b4d119a7b953b",
    )
    install(
        connection,
        "0836_function_take_alerts.sql",
        "baf1e3833c016d8dea2891437b5fb426577103e7953d736a545ad401364cef4b",
    )
    # INSTALL-END
    execute_script(connection, TRIGGERS)


def downgrade() -> None:
    execute_script(op.get_bind(), DOWNGRADE)
