"""Provisioning: the embedded PostgreSQL cluster, the Alembic migrations, the pinned procedures they
install, and the committed schema file that shows what they build."""
