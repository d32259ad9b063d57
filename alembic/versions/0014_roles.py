"""least privilege: two group roles, a worker (runs workflows through the processor's functions
only) and a reader (reports and validation); every function either role may call is SECURITY
DEFINER with a pinned search_path, and PUBLIC may run none of schema public's functions.
apply_role_grants() holds the lists; record_alert_delivery() and cron_status() replace the two
things a worker did directly (noting an alert's delivery, reading cron.job).

Role names: `alembic -x worker_role=NAME -x reader_role=NAME upgrade head`, or TURING_WORKER_ROLE /
TURING_READER_ROLE (defaults turing_worker, turing_reader). Roles are cluster-wide: a role that exists
already is used as it is (a second database of the cluster shares them); downgrade revokes this
database's grants and drops a role only when no other database grants it anything and no role is
its member.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

import os
import re

from alembic import context, op
from sqlalchemy import text

from turing_db.provisioning.procedures import execute_script, install

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
ROLES = {"worker": ("TURING_WORKER_ROLE", "turing_worker"), "reader": ("TURING_READER_ROLE", "turing_reader")}

UPGRADE = """
CREATE TABLE database_roles (
    purpose   text PRIMARY KEY CHECK (purpose IN ('worker', 'reader')),
    role_name name NOT NULL UNIQUE,
    created   boolean NOT NULL DEFAULT false  -- by this migration (downgrade drops only those)
);
COMMENT ON TABLE database_roles IS 'the group roles apply_role_grants() gives privileges to (migration 0014)';
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
"""

DOWNGRADE = """
DO $downgrade$
DECLARE
    role_row record;
    definer regprocedure;
BEGIN
    FOR definer IN SELECT DISTINCT proc.oid FROM pg_proc AS proc, public.database_roles AS named
                    WHERE proc.pronamespace = 'public'::regnamespace AND proc.prosecdef
                      AND has_function_privilege(named.role_name, proc.oid, 'EXECUTE') LOOP
        EXECUTE format('ALTER FUNCTION %s SECURITY INVOKER', definer);  -- as before 0014
    END LOOP;
    FOR role_row IN SELECT role_name FROM public.database_roles LOOP
        EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', role_row.role_name);
        EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM %I', role_row.role_name);
        EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', role_row.role_name);
        EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', current_database(), role_row.role_name);
    END LOOP;
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
END;
$downgrade$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC;
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
DROP FUNCTION public.apply_role_grants();
DROP FUNCTION public.cron_status();
DROP FUNCTION public.record_alert_delivery(bigint, jsonb);
"""

# a role this migration created and nothing uses any more is dropped: kept when anything in the
# cluster depends on it (pg_shdepend: grants, ownership, default privileges, in any database) or a
# role is its member, and when the downgrading role may not drop roles
DROP_UNUSED_ROLES = """
DO $drop$
DECLARE
    role_row record;
BEGIN
    FOR role_row IN SELECT role.oid, role.rolname FROM public.database_roles AS named
                      JOIN pg_roles AS role ON role.rolname = named.role_name
                     WHERE named.created LOOP
        IF EXISTS (SELECT FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass
                                             AND refobjid = role_row.oid)
           OR EXISTS (SELECT FROM pg_auth_members WHERE roleid = role_row.oid) THEN
            RAISE NOTICE 'role % is kept: something in the cluster still depends on it, or a role is its member',
                         role_row.rolname;
        ELSIF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            RAISE NOTICE 'role % is kept: % may not drop roles', role_row.rolname, current_user;
        ELSE
            EXECUTE format('DROP ROLE %I', role_row.rolname);
        END IF;
    END LOOP;
END;
$drop$;
DROP TABLE database_roles;
"""


def role_names() -> dict[str, str]:
    """The roles to use: -x worker_role=… / reader_role=…, else TURING_*_ROLE, else the defaults."""
    given = context.get_x_argument(as_dictionary=True)
    names = {
        purpose: given.get(f"{purpose}_role") or os.environ.get(variable) or default
        for purpose, (variable, default) in ROLES.items()
    }
    for purpose, name in names.items():
        if not ROLE_NAME.fullmatch(name):
            raise ValueError(
                f"the {purpose} role name {name!r} must be a lower-case SQL identifier (a-z, 0-9, _)"
            )
    if names["worker"] == names["reader"]:
        raise ValueError(f"the worker and reader roles must differ (both are {names['worker']!r})")
    return names


def ensure_role(connection, name: str) -> bool:
    """Create `name` as a NOLOGIN group role unless the cluster has it already; True when created.
    An existing role is used as it is, unless it holds more than a group role of ours should."""
    if name.startswith("pg_"):
        raise ValueError(f"role {name!r}: names beginning pg_ are PostgreSQL's own")
    existing = connection.execute(
        text(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls "
            "OR rolname = current_user OR pg_has_role(rolname, current_user, 'MEMBER') "
            "FROM pg_roles WHERE rolname = :name"
        ),
        {"name": name},
    ).first()
    if existing is not None:
        if existing[0]:
            raise ValueError(
                f"role {name!r} may create roles or databases, replicate, bypass row security, is a superuser, "
                "or is (a member of) the migrating role: pick another name"
            )
        return False
    allowed = connection.execute(
        text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
    ).scalar_one()
    if not allowed:
        raise PermissionError(
            f"role {name!r} does not exist and the migrating role may not create roles: have a superuser "
            f"run CREATE ROLE {name} NOLOGIN; (or grant CREATEROLE), then migrate again"
        )
    statement = connection.execute(text("SELECT format('CREATE ROLE %I NOLOGIN', CAST(:name AS text))"),
                                   {"name": name}).scalar_one()  # fmt: skip
    connection.exec_driver_sql(statement)
    return True


def upgrade() -> None:
    connection = op.get_bind()
    names = role_names()
    created = {purpose: ensure_role(connection, name) for purpose, name in names.items()}
    execute_script(connection, UPGRADE)
    for purpose, name in names.items():
        connection.execute(
            text(
                "INSERT INTO database_roles (purpose, role_name, created) VALUES (:purpose, :name, :created)"
            ),
            {"purpose": purpose, "name": name, "created": created[purpose]},
        )
    # INSTALL-BEGIN
    install(
        connection,
        "0120_function_refresh_performance_views.sql",
        "cd784a2baf9ef4f9b5c2fbd0ffb03a66f387e4327d1bb3c8e54f55348001f672",
    )
    install(
        connection,
        "0195_function_posting_counts.sql",
        "d93ad833c7c0977ad330ce40f6e2a7e5b63ace7280dbf8f92a3d6469159ac6f9",
    )
    install(
        connection,
        "0500_function_validate_workflow.sql",
        "6dd450286e3f3af8d49dacce2849f939c23c6eca8252d2e67250cfc6da91c06d",
    )
    install(
        connection,
        "0700_function_start_run.sql",
        "c142eca7c01d30f9b39f74f073a672815b633f6724425b24b3f44b54843bda15",
    )
    install(
        connection,
        "0702_function_worker_lock.sql",
        "f7ad22db33f8e9a59d1de1412ba62dfcc3880cac3a0f8eded1d546fb2f3bfc43",
    )
    install(
        connection,
        "0720_function_claim_chunk_v2.sql",
        "d0d8c89e52b9ffc0d8e47c11413fc1ea2f3bc3521d10fa1e3b320eaab490acda",
    )
    install(
        connection,
        "0721_function_claim_chunk.sql",
        "97d123fe820ffa6de00a3745ce6ac04384a4f86b253fbf4be8be2d002cd97a2f",
    )
    install(
        connection,
        "0730_function_complete_chunk.sql",
        "e239a03463a886294ca4958062e28926180e340a801e2839c73c98361759927a",
    )
    install(
        connection,
        "0740_function_heartbeat.sql",
        "6c72a3be72ce029ecc6b1c2d62c0503703b00dbbb1b6eb9303d62d40a73a4408",
    )
    install(
        connection,
        "0750_function_release_claims.sql",
        "65dbf964d6b2ab3e4e6c564b8b2c56b70a15df50693b7cf4c99560a4f10e4a7a",
    )
    install(
        connection,
        "0760_function_stop_worker.sql",
        "d1714ff280ff9df9189334ae778f9649521be6ff6471799be593e16e21753f99",
    )
    install(
        connection,
        "0770_function_run_progress.sql",
        "4f47104bc6b4ab7bf863c2e8aad782104aa6410cff135c2479a567bb9829c17d",
    )
    install(
        connection,
        "0775_function_worker_state.sql",
        "86ecb723e0a7f30ce020f1ef4e79b5f2883278670ae94fd44b36d0278a316d4e",
    )
    install(
        connection,
        "0780_function_run_summary.sql",
        "a92f120ac57af57167a810f4f03463aff5a380c44f164f6a7e53fc70fb6a5f4b",
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
        "0830_function_raise_alert.sql",
        "88cfc9dd581dcb577b766b4053ef40153ee023e0287fd98c49897d2ab8779fa6",
    )
    install(
        connection,
        "0836_function_take_alerts.sql",
        "60bc9a97ed1dd59b8321f2fda7dfe2ac28f396b296abda62d7636869341c1a2d",
    )
    install(
        connection,
        "0840_function_recent_errors.sql",
        "90d2a609806197db50eb7d9f2ca4a961ba80895eb7e976fd324a3d417a318ff1",
    )
    install(
        connection,
        "0845_function_run_status.sql",
        "c32c67abb38af4b73f07874e37daf7a0dd80509158a32909b9f67c37c2b17169",
    )
    install(
        connection,
        "0855_function_run_report.sql",
        "cc90148e2166a2e0424aadd64adda490cc76fd822da202b81bc9ee840bf9e10b",
    )
    install(
        connection,
        "0860_function_record_alert_delivery.sql",
        "c99f388e145105be435dcb871c88ecacaf00b9d512366f07839264dd6c73fb35",
    )
    install(
        connection,
        "0865_function_cron_status.sql",
        "ad66c250e11f55099c3454946367b013be7d7f96a118a27e3580a37c1630c963",
    )
    install(
        connection,
        "0900_function_apply_role_grants.sql",
        "29a7878fd390573a21a29ebdd0898b6d24429c11e128174a93811e81de84f37e",
    )
    # INSTALL-END
    connection.execute(text("SELECT apply_role_grants()"))


def downgrade() -> None:
    connection = op.get_bind()
    execute_script(connection, DOWNGRADE)
    execute_script(connection, DROP_UNUSED_ROLES)
