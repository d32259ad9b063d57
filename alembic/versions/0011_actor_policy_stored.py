"""a cheaper gate: actors.policy stores actor_policy(config, actor_type) (a generated column,
recomputed whenever the row is written), read by the gate (actor_admit, actor_settle,
actor_gate_change), claim_chunk_v2() and the view circuit_breakers instead of computed there (it took
0.7 ms, paid at every call's admission and settlement); actor_settle_and_admit() hands a succeeded
call's permit back and admits the thread's next call in one round trip; actor_policy_section_fits()
is false, not NULL, for an absent section (a local actor's counts_failures was null)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from alembic import op

from turing_db.provisioning.procedures import execute_script, install

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# A later migration that changes actor_policy() must recompute the column: UPDATE actors SET config = config.
UPGRADE = """
ALTER TABLE actors
    ADD COLUMN policy jsonb GENERATED ALWAYS AS (public.actor_policy(config, actor_type)) STORED;
COMMENT ON COLUMN actors.policy IS
    'actor_policy(config, actor_type): the retry, breaker and rate_limit settings with the defaults filled in';
"""

DOWNGRADE_AFTER = """
DROP FUNCTION public.actor_settle_and_admit(uuid, integer, integer, text, integer);
ALTER TABLE actors DROP COLUMN policy;
"""


def upgrade() -> None:
    connection = op.get_bind()
    install(  # first: the column is computed with it
        connection,
        "0045_function_actor_policy_section_fits.sql",
        "383fe9d6dbb0f529bfe898d4173bffb3d759185f210106cd4e6b8c60c466e958",
    )
    execute_script(connection, UPGRADE)
    # INSTALL-BEGIN
    install(
        connection,
        "0800_function_actor_gate_change.sql",
        "57045c77750ba47d93675d02c83f1dd28185cb46e3095626e44274f356bfb6c1",
    )
    install(
        connection,
        "0805_function_actor_admit.sql",
        "c5b9aa7451acaa4f12e4a2c94f00cbe1f25ec58df7363dfa4c779190c066c364",
    )
    install(
        connection,
        "0810_function_actor_settle.sql",
        "f1a98b847aa111f9140008c47c6f19e99d1fd46e2ec7305f2587f80654beb7c4",
    )
    install(
        connection,
        "0812_function_actor_settle_and_admit.sql",
        "0a7d82e6225bf57009a3ae8f1ed957da51e7c9b85e1288a0d6aa3c7713d44df8",
    )
    install(
        connection,
        "0820_view_circuit_breakers.sql",
        "e28c28dcfcfb49e011d4590931ebca69d94d8fd7e9a5609776a369f8395f4b87",
    )
    install(
        connection,
        "0720_function_claim_chunk_v2.sql",
        "b040b1f89465e8f7eb7eec54dc1a502f83df761037449efc90065a5812e58f9e",
    )
    # INSTALL-END


def downgrade() -> None:
    connection = op.get_bind()
    # the versions migration 0009 installed
    install(
        connection,
        "0045_function_actor_policy_section_fits.sql",
        "0747660af9c84f65f416a2a68c432bb280087f36e8cfc011b12e7bd3da4ea422",
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
        "0820_view_circuit_breakers.sql",
        "ab4209c6203f1efd93d9926639b49a503827c76abb01b8dc934a9d92baa2e269",
    )
    install(
        connection,
        "0720_function_claim_chunk_v2.sql",
        "7045b968399f196e51a1089e4aab9c41b69d4ba47c8e26c9fc81e64e699c39d6",
    )
    execute_script(connection, DOWNGRADE_AFTER)
