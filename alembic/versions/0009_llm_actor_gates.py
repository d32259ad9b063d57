"""LLM actors' gates, shared by every worker: a circuit breaker, a concurrency cap and rate-limit buckets
per actor in the database (actor_gates, leased actor_permits, circuit_breaker_events as history);
actor_admit() before every call, actor_settle() after it; actor_policy() fills in the retry, breaker
and rate-limit defaults and claim_chunk_v2() hands it to workers; the view circuit_breakers and
reset_circuit_breaker(); actor_calls records the attempt, the HTTP status and the model's load time;
validate_workflow() checks the ollama/openai keys of the contract and every actor's retry, breaker and
rate_limit settings (actor_policy_problems()); a posting whose server asked for a Retry-After longer
than the retry cap is deferred (posting_work.not_before) instead of holding a slot

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE actor_gates (
    actor_id        integer PRIMARY KEY REFERENCES actors (actor_id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    failures        timestamptz[] NOT NULL DEFAULT '{}',  -- retryable failures in the window, oldest first
    opened_at       timestamptz,
    retry_at        timestamptz,  -- an open breaker half-opens then
    probe_successes integer NOT NULL DEFAULT 0 CHECK (probe_successes >= 0),
    requests_left   double precision,  -- the request bucket (NULL: no requests_per_minute)
    tokens_left     double precision,  -- the token bucket (NULL: no tokens_per_minute); may be negative
    refilled_at     timestamptz NOT NULL DEFAULT now(),
    changed_at      timestamptz NOT NULL DEFAULT '-infinity',  -- the last change of state
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'open') = (retry_at IS NOT NULL))
);
COMMENT ON TABLE actor_gates IS 'one row per actor: its circuit breaker and rate-limit buckets, shared by all workers (actor_admit, actor_settle)';

CREATE TABLE actor_permits (
    permit_id        uuid PRIMARY KEY,
    actor_id         integer NOT NULL REFERENCES actors (actor_id) ON DELETE CASCADE,
    worker_id        text NOT NULL,
    probe            boolean NOT NULL,
    estimated_tokens integer NOT NULL CHECK (estimated_tokens >= 0),
    granted_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL
);
CREATE INDEX actor_permits_actor_idx ON actor_permits (actor_id, expires_at);
COMMENT ON TABLE actor_permits IS 'calls in flight, leased: a permit whose worker died frees its slot when its lease ends';

CREATE TABLE circuit_breaker_events (
    event_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id   integer NOT NULL REFERENCES actors (actor_id) ON DELETE CASCADE,
    from_state text NOT NULL,
    to_state   text NOT NULL,
    reason     text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX circuit_breaker_events_actor_idx ON circuit_breaker_events (actor_id, changed_at);

-- a posting deferred by a server's long Retry-After is not claimed again before not_before
ALTER TABLE posting_work ADD COLUMN not_before timestamptz;

ALTER TABLE actor_calls
    ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    ADD COLUMN http_status integer,
    ADD COLUMN load_ms numeric CHECK (load_ms >= 0);
"""

DOWNGRADE = """
DROP VIEW public.circuit_breakers;
DROP FUNCTION public.reset_circuit_breaker(text);
DROP FUNCTION public.actor_settle(uuid, integer, text, integer, jsonb);
DROP FUNCTION public.actor_admit(integer, text, integer);
DROP FUNCTION public.actor_gate_change(integer, text, text);
"""

DOWNGRADE_AFTER = """
DROP FUNCTION public.actor_policy(jsonb, text);
DROP FUNCTION public.actor_policy_problems(jsonb);
DROP FUNCTION public.actor_policy_section_fits(text, jsonb);
DROP TABLE circuit_breaker_events, actor_permits, actor_gates;
ALTER TABLE actor_calls DROP COLUMN attempt, DROP COLUMN http_status, DROP COLUMN load_ms;
ALTER TABLE posting_work DROP COLUMN not_before;
"""


def upgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, UPGRADE)
    # INSTALL-BEGIN
    install(
        connection,
        "0045_function_actor_policy_section_fits.sql",
        "0747660af9c84f65f416a2a68c432bb280087f36e8cfc011b12e7bd3da4ea422",
    )
    install(
        connection,
        "0050_function_actor_policy.sql",
        "0e8774452bdb1959abdb1302773292fef5e986154218f9b2526f6142b42849aa",
    )
    install(
        connection,
        "0055_function_actor_policy_problems.sql",
        "84797a432b31cea1de30020ecf5b70c8bfcfabdfbb024dcced589d2631505552",
    )
    install(
        connection,
        "0800_function_actor_gate_change.sql",
        "2ce306a6d3da14a53485fee404479655b029d216c9337b2b088a6035dc19298f",
    )
    install(
        connection,
        "0805_function_actor_admit.sql",
        "4b66133460daff8b4e7a39004de7d8ac10ca57ba662aaa051597f55c3f2e573c",
    )
    install(
        connection,
        "0810_function_actor_settle.sql",
        "ea1117aec7073e4d30bcef49856f993195b65694118ac6a2b55a59fccaecc7e8",
    )
    install(
        connection,
        "0815_function_reset_circuit_breaker.sql",
        "70b18f713d0abf819ef205d2fe38490c0434d9f71700adb468afbf0ab8b75f82",
    )
    install(
        connection,
        "0820_view_circuit_breakers.sql",
        "ab4209c6203f1efd93d9926639b49a503827c76abb01b8dc934a9d92baa2e269",
    )
    install(
        connection,
        "0720_function_claim_chunk_v2.sql",
        "7045b968399f196e51a1089e4aab9c41b69d4ba47c8e26c9fc81e64e699c39d6",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "3d224d6e980d8eec7f30ae84b49e61ec9f2b1fb09ebfd3ca98c3037ff84faf0b",
    )
    install(
        connection,
        "0340_function_workflow_check_actors.sql",
        "37ca7897e47e3c5df052e22575af5989ffedf6554f7cbadf65a056685d9cb80e",
    )
    # INSTALL-END


def downgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, DOWNGRADE)
    # the versions migration 0008 installed
    install(
        connection,
        "0720_function_claim_chunk_v2.sql",
        "55e7aaaec6ccc6e1be2e7535f75fce02989c6f283c3dad7237060724eae9de1c",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "60565bc577991861a2c075272f3f2430802a038fe6a2ff55212435c3f2454b00",
    )
    install(
        connection,
        "0340_function_workflow_check_actors.sql",
        "0e8fca6c89d5659bdfe823f11c0e2def52d473b6419723a57470d7b198832ec7",
    )
    execute_script(connection, DOWNGRADE_AFTER)
