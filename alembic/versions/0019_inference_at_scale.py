"""inference at scale: an ollama/openai actor's url / base_url may list several servers
(actors.endpoints, actor_endpoints()), each with a circuit breaker of its own (actor_gates.endpoint;
the actor's follows them, actor_gate_follow_endpoints()) and its own cap, calls going to the server
with the fewest in flight; an opt-in response cache (config.cache; response_cache, keyed by
response_cache_key(), one call per key in flight, expiry, clear_response_cache() and the pg_cron job
prune-response-cache, response_cache_status(), cached_answers() for a chunk at once); actor_calls.cached; validate_workflow() warns of a [CIRCUIT_OPEN]/[TIMEOUT]
fallback that saves another stage (workflow_check_fallbacks()); an idle worker takes over the claims
of a dead host at once (worker_state(), expire_dead_workers_claims()). The gate functions take new arguments:
dropped, made again and granted again.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLES = """
-- pending strict-check events of earlier statements would refuse ALTER TABLE actors
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
ALTER TABLE actors ADD COLUMN endpoints jsonb GENERATED ALWAYS AS (public.actor_endpoints(config, actor_type)) STORED;
COMMENT ON COLUMN actors.endpoints IS 'the servers of an actor whose url / base_url is a list (actor_endpoints()); NULL: one';

-- a breaker per server: endpoint '' is the actor's own row (its breaker and rate buckets)
ALTER TABLE actor_gates ADD COLUMN endpoint text NOT NULL DEFAULT '';
CREATE UNIQUE INDEX actor_gates_endpoint_key ON actor_gates (actor_id, endpoint);
ALTER TABLE actor_gates DROP CONSTRAINT actor_gates_pkey,
    ADD CONSTRAINT actor_gates_pkey PRIMARY KEY USING INDEX actor_gates_endpoint_key;
ALTER TABLE actor_permits ADD COLUMN endpoint text NOT NULL DEFAULT '', ADD COLUMN cache_key text;
CREATE INDEX actor_permits_cache_key_idx ON actor_permits (cache_key) WHERE cache_key IS NOT NULL;
ALTER TABLE circuit_breaker_events ADD COLUMN endpoint text NOT NULL DEFAULT '';
ALTER TABLE actor_calls ADD COLUMN cached boolean NOT NULL DEFAULT false;

CREATE TABLE response_cache (
    cache_key  text PRIMARY KEY,  -- response_cache_key(actor_type, config, prompt)
    actor_id   integer NOT NULL REFERENCES actors (actor_id) ON DELETE CASCADE,  -- the actor that asked
    answer     text NOT NULL,
    tokens     integer,  -- what the answer cost when it was asked (prompt + completion)
    stored_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX response_cache_actor_idx ON response_cache (actor_id);
CREATE INDEX response_cache_expires_idx ON response_cache (expires_at);
COMMENT ON TABLE response_cache IS 'answers of actors whose config sets cache: true, by what determines them (actor_admit, actor_settle)';

DROP FUNCTION public.actor_settle_and_admit(uuid, integer, integer, text, integer);
DROP FUNCTION public.actor_admit(integer, text, integer);
DROP FUNCTION public.actor_settle(uuid, integer, text, integer, jsonb);
DROP FUNCTION public.actor_gate_change(integer, text, text);
"""

SCHEDULE = """
SELECT cron.schedule('prune-response-cache', '17 * * * *', 'SELECT public.clear_response_cache(NULL, true)');
"""

DOWNGRADE = """
SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'prune-response-cache';
DROP FUNCTION public.actor_settle_and_admit(uuid, integer, integer, text, integer, text, jsonb);
DROP FUNCTION public.actor_admit(integer, text, integer, text, jsonb);
DROP FUNCTION public.actor_settle(uuid, integer, text, integer, jsonb, text);
DROP FUNCTION public.actor_gate_change(integer, text, text, text);
DROP FUNCTION public.actor_gate_follow_endpoints(integer);
DROP FUNCTION public.clear_response_cache(text, boolean);
DROP FUNCTION public.response_cache_status();
DROP FUNCTION public.cached_answers(integer, text[], jsonb);
DROP FUNCTION public.workflow_check_fallbacks(integer, public.workflow_branch[]);
DROP TABLE response_cache;
DROP VIEW public.circuit_breakers;
DELETE FROM actor_permits WHERE endpoint <> '';
DELETE FROM actor_gates WHERE endpoint <> '';
DELETE FROM circuit_breaker_events WHERE endpoint <> '';  -- a server's history would read as the actor's
-- a list of servers is one server to the code before this revision: the first
UPDATE actors SET config = jsonb_set(config, ARRAY[key], to_jsonb(endpoints -> 0 ->> 'endpoint'))
  FROM (VALUES ('ollama', 'url'), ('openai', 'base_url')) AS kind (actor_type, key)
 WHERE actors.actor_type = kind.actor_type AND jsonb_typeof(config -> kind.key) = 'array'
   AND actors.endpoints IS NOT NULL;
SET CONSTRAINTS ALL IMMEDIATE;  -- the strict check now: actors is altered below
SET CONSTRAINTS ALL DEFERRED;
CREATE UNIQUE INDEX actor_gates_actor_key ON actor_gates (actor_id);
ALTER TABLE actor_gates DROP CONSTRAINT actor_gates_pkey,
    ADD CONSTRAINT actor_gates_pkey PRIMARY KEY USING INDEX actor_gates_actor_key;
ALTER TABLE actor_gates DROP COLUMN endpoint;
ALTER TABLE actor_permits DROP COLUMN endpoint, DROP COLUMN cache_key;
ALTER TABLE circuit_breaker_events DROP COLUMN endpoint;
ALTER TABLE actor_calls DROP COLUMN cached;
"""

DOWNGRADE_AFTER = """
ALTER TABLE actors DROP COLUMN endpoints;
DROP FUNCTION public.actor_endpoints(jsonb, text);
DROP FUNCTION public.response_cache_key(text, jsonb, text);
SET CONSTRAINTS ALL IMMEDIATE;
SET CONSTRAINTS ALL DEFERRED;
"""


def upgrade() -> None:
    connection = op.get_bind()
    # INSTALL-BEGIN
    install(
        connection,
        "0047_function_actor_endpoints.sql",
        "6e802323d5b33bea3c1e54c7eb47b412c0049a6ab581642b52e097c823072ad8",
    )
    install(
        connection,
        "0048_function_response_cache_key.sql",
        "b6ee5ac4d0a1f051e076d424eadbcc4f86400a2a7a82cd63dc5b3f6b8a6a5695",
    )
    execute_script(connection, TABLES)
    install(
        connection,
        "0055_function_actor_policy_problems.sql",
        "4ea36a7c4e3d9322d3ca07d0b4c6bdfd7465b77591e6742934cdd3ecbd697382",
    )
    install(
        connection,
        "0340_function_workflow_check_actors.sql",
        "22dd060a98719d5a83e4a496c090d930f49d5d89d973dbac2ee480bd54ba1f6d",
    )
    install(
        connection,
        "0415_function_workflow_check_fallbacks.sql",
        "247c801cfdd0c2c4d1654f9bb4aa20bfa4a3938f9a037c9dc95b7cb5de9b220d",
    )
    install(
        connection,
        "0500_function_validate_workflow.sql",
        "a32bb10888538502ef91a9a0d25397db81273de561f3ccd7a7d81ecf779f6873",
    )
    install(
        connection,
        "0708_function_expire_dead_workers_claims.sql",
        "b555fec3d3e0cb762652384046074d79bba2df8ff1e6c3cff8e6a287e68f4095",
    )
    install(
        connection,
        "0710_function_sweep_expired_claims.sql",
        "a23019031eb4d021201282f98f804ef0630925e5e520e167712adb82e5f80363",
    )
    install(
        connection,
        "0775_function_worker_state.sql",
        "6e4b09a4874dbc25e3b375a8eb82a5afe1f431a52a7ca88b954633126c4d73ca",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "94dc65d9cb52355eacb94ed92655bf129d00b7ec7cb1f52c7ec9a386a2edddf8",
    )
    install(
        connection,
        "0800_function_actor_gate_change.sql",
        "da01e9645007d5290c51d1797d5511771920af655e827d66f8ca0779477c8ec0",
    )
    install(
        connection,
        "0802_function_actor_gate_follow_endpoints.sql",
        "1d13c2515877b065126d818add3faa323df0a747d64e8c29f598e41903c7da6d",
    )
    install(
        connection,
        "0805_function_actor_admit.sql",
        "f2964ecdebe754ee3e3b6efc943e95a1291e67817f746d0009b0ad6d40a2ae3b",
    )
    install(
        connection,
        "0810_function_actor_settle.sql",
        "d71887c6d7f951ea2c6011f65ccfbb893c9208d2cc1b3837a8c1918474e24866",
    )
    install(
        connection,
        "0812_function_actor_settle_and_admit.sql",
        "73245a5669c8ac782c030049a12874c3a2879891a0a5426467bdd83a1d05f922",
    )
    install(
        connection,
        "0815_function_reset_circuit_breaker.sql",
        "784cf41ff51188eb6c7db83ff0e6b4418ba2a46dc1fce1081f68ae78845a2c8d",
    )
    install(
        connection,
        "0820_view_circuit_breakers.sql",
        "183ccdd0e23336fa1954de372a730cbf3310f958a2022d7754fb8ece635f79d4",
    )
    install(
        connection,
        "0832_function_alert_on_breaker_change.sql",
        "6e2c02f3f0ee10321534de3e0050e8c6eb8037bb8dee8761f5d8b07298b41949",
    )
    install(
        connection,
        "0870_function_clear_response_cache.sql",
        "0bd399a1eeeead63c18ee75217b186d2c4168ac3f4e030f56acf8679d7c0a774",
    )
    install(
        connection,
        "0872_function_response_cache_status.sql",
        "e3f0eb3a43c4a79fa1b883990abdf1d480e83586d0f5cfe41df5231abf4c8436",
    )
    install(
        connection,
        "0874_function_cached_answers.sql",
        "2d23263c69c968111d3866869afd28aed69f9e9ddd6d499f36702978de3071e8",
    )
    install(
        connection,
        "0900_function_apply_role_grants.sql",
        "0c96f4304ee2f3ad41d237d289e7376331ca494db177212ecd9ef8d1696db4b3",
    )
    # INSTALL-END
    execute_script(connection, "SELECT public.apply_role_grants();")  # the gate's new signatures
    execute_script(connection, SCHEDULE)
    # check 3001 now: a pending strict-check event would keep a later migration from altering the tables
    execute_script(connection, "SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED;")


def downgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, DOWNGRADE)
    # the versions the migrations before this one installed
    # PREVIOUS-BEGIN
    install(
        connection,
        "0055_function_actor_policy_problems.sql",
        "84797a432b31cea1de30020ecf5b70c8bfcfabdfbb024dcced589d2631505552",
    )
    install(
        connection,
        "0340_function_workflow_check_actors.sql",
        "37ca7897e47e3c5df052e22575af5989ffedf6554f7cbadf65a056685d9cb80e",
    )
    install(
        connection,
        "0500_function_validate_workflow.sql",
        "708ad866f3432429e15d43dc790ef80a62963bf5251a9233abf62c0d6aa6009f",
    )
    install(
        connection,
        "0710_function_sweep_expired_claims.sql",
        "66abc68262c073e452b4a623e18b161cc898b2433dbaffe8b54cd91378ea1efc",
    )
    install(
        connection,
        "0775_function_worker_state.sql",
        "86ecb723e0a7f30ce020f1ef4e79b5f2883278670ae94fd44b36d0278a316d4e",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "cdab4e1757abf40ff97b7011a5499841ae04368241c82f97d36ed3cb8097eb91",
    )
    install(
        connection,
        "0800_function_actor_gate_change.sql",
        "57045c77750ba47d93675d02c83f1dd28185cb46e3095626e44274f356bfb6c1",
    )
    install(
        connection,
        "0805_function_actor_admit.sql",
        "b957594fc8d3ed76da98a8011c929fed8944272dd1792bd8b39d36b661ed3b0c",
    )
    install(
        connection,
        "0810_function_actor_settle.sql",
        "98c6c02559934c5cb0447f31a44e26fb6bd87d8c9a497b92173552ec2c90f81e",
    )
    install(
        connection,
        "0812_function_actor_settle_and_admit.sql",
        "09b2c6de1dcabc5fab893e7572e4b2c41e5575bbf1fb67ac0af03d5af4f68e0b",
    )
    install(
        connection,
        "0815_function_reset_circuit_breaker.sql",
        "70b18f713d0abf819ef205d2fe38490c0434d9f71700adb468afbf0ab8b75f82",
    )
    install(
        connection,
        "0820_view_circuit_breakers.sql",
        "e28c28dcfcfb49e011d4590931ebca69d94d8fd7e9a5609776a369f8395f4b87",
    )
    install(
        connection,
        "0832_function_alert_on_breaker_change.sql",
        "371b1f3bf7251ca2f504c21d04fe95b3666721a87a92120fd28f2fd3a5663ab9",
    )
    install(
        connection,
        "0900_function_apply_role_grants.sql",
        "816169725eeb3e2183c55c2cedfd6610dc5745d975447ceef36eadfc06db45ef",
    )
    # PREVIOUS-END
    execute_script(connection, DOWNGRADE_AFTER)
    execute_script(connection, "DROP FUNCTION public.expire_dead_workers_claims(bigint, interval);")
    execute_script(connection, "SELECT public.apply_role_grants();")
